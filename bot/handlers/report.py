"""`/margin report [PERIOD]`: build the board pack and hand it to the asker as an .xlsx file."""

from __future__ import annotations

from datetime import datetime

from bot.answer_types import Answer, Upload
from bot.blocks.report_pack import pack_filename, report_pack_message
from bot.command import Command
from bot.render.workbook import xlsx_bytes
from engine.reports.pack import board_pack
from engine.runtime import Runtime


def report(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    period = rt.period(cmd.period, now)
    with rt.connect() as conn:
        # The notices go into the workbook's notes sheet too: the message carries them (bot.answer adds them to
        # every answer), but the file is opened, and forwarded, without it.
        pack = board_pack(
            conn,
            period,
            prices=rt.prices,
            timezone=rt.settings.timezone,
            thresholds=rt.thresholds,
            notices=rt.notices(conn),
        )
    answer = report_pack_message(pack, asked=cmd.period, shared=cmd.share)
    answer.files.append(
        Upload(filename=pack_filename(pack), content=xlsx_bytes(pack), title=f"marginbot board pack, {period.label}")
    )
    return answer
