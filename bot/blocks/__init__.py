"""Pure Block Kit builders: an engine result in, a message (`Answer`) or a view dict out. No I/O, no Slack."""

from bot.blocks.home import LastImport, home_error_view, home_no_access_view, home_view
from bot.blocks.messages import error_message, help_message, refusal_message, unknown_subject_message
from bot.blocks.portfolio import portfolio_message, ranking_message
from bot.blocks.report import margin_report

__all__ = [
    "LastImport",
    "error_message",
    "help_message",
    "home_error_view",
    "home_no_access_view",
    "home_view",
    "margin_report",
    "portfolio_message",
    "ranking_message",
    "refusal_message",
    "unknown_subject_message",
]
