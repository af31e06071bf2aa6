"""No phantom customers: usage that names a customer by its contract's name or an alias is imported under the
customer's id, and the customers left without a contract are listed with what they may have meant."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.main import main
from engine.ingest.contracts import ContractFileError, import_contracts_file
from engine.ingest.customers import CustomerMap, clashes
from engine.ingest.files import import_usage_file
from engine.ingest.sources.otlp import import_otlp_files
from engine.ingest.writer import PG_WRITER_LOCK
from engine.reports.names import AmbiguousSubject, resolve_customer
from engine.runtime import Runtime
from tests.engine.ingest.sources.test_otlp import otlp_file

CONTRACTS = (
    "customer,customer_name,aliases,plan,start,platform_fee_usd\n"
    "acme,Acme Corp,ACME Inc;Acme Holdings,flat,2026-01-01,2000\n"
    "initech,Initech Inc,,flat,2026-01-01,1000\n"
    "strasse,Straße GmbH,,flat,2026-01-01,500\n"
)
HEADER = "event_id,ts,customer,product,model,input_tokens,output_tokens\n"


def usage(tmp_path: Path, *customers: str) -> Path:
    path = tmp_path / "usage.csv"
    path.write_text(
        HEADER + "".join(f"e{i},2026-10-05T12:00:00Z,{c},assist,gpt-4o,100,10\n" for i, c in enumerate(customers))
    )
    return path


@pytest.fixture
def rt(runtime: Runtime, tmp_path: Path) -> Runtime:
    (tmp_path / "contracts.csv").write_text(CONTRACTS)
    assert main(["import", "contracts", str(tmp_path / "contracts.csv")], runtime=runtime) == 0
    return runtime


def stored(rt: Runtime, sql: str) -> list[tuple[object, ...]]:
    with rt.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_the_map_takes_ids_in_any_case_names_and_aliases_casefolded_and_no_shared_label() -> None:
    customers = CustomerMap.build(
        [
            ("acme", "Acme Corp", "ACME Inc; Acme Holdings"),
            ("strasse", "Straße GmbH", ""),
            ("globex", "Globex", "Shared"),
            ("hooli", "Hooli", "shared"),
            ("ACME", "Acme Europe", ""),  # another customer whose id differs from acme's only in case
        ]
    )
    assert {name: customers.lookup(name) for name in ("acme", "ACME", "Acme", "acme corp", " ACME INC ")} == {
        "acme": None,  # an id is itself
        "ACME": None,
        "Acme": None,  # "acme" in another case names two customers by id: neither
        "acme corp": "acme",
        " ACME INC ": "acme",
    }
    assert customers.lookup("STRASSE GMBH") == "strasse"  # casefolded: ß is ss
    assert customers.lookup("Shared") is None  # an alias of two customers maps to neither
    assert customers.lookup("Nobody") is None
    assert customers.renames(["Acme Corp", "acme", "Nobody", "Acme Holdings"]) == {
        "Acme Corp": "acme",
        "Acme Holdings": "acme",
    }


def test_usage_by_contract_name_or_alias_is_imported_under_the_id_and_the_summary_says_so(
    rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = usage(tmp_path, "Acme Corp", "acme corp", "ACME INC", "acme", "Initech Inc", "initech-labs", "Newco")

    assert main(["import", "usage", str(path)], runtime=rt) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        "  mapped 'ACME INC' → acme (1 event)",
        "  mapped 'Acme Corp' → acme (1 event)",
        "  mapped 'Initech Inc' → initech (1 event)",
        "  mapped 'acme corp' → acme (1 event)",
        "  2 customer(s) without a contract (their usage shows as NO REVENUE): Newco, initech-labs (did you mean "
        "Initech Inc (initech)?); add them with `marginbot import contracts`",
    ]
    assert stored(rt, "SELECT customer, COUNT(*) FROM usage_event GROUP BY customer ORDER BY customer") == [
        ("Newco", 1),
        ("acme", 4),
        ("initech", 1),
        ("initech-labs", 1),
    ]
    # No phantom: the names were never added as customers of their own; the customers without a contract were.
    assert stored(rt, "SELECT id FROM customer ORDER BY id") == [
        ("Newco",),
        ("acme",),
        ("initech",),
        ("initech-labs",),
        ("strasse",),
    ]
    assert stored(rt, "SELECT SUM(events) FROM daily_customer_product WHERE customer = 'acme'") == [(4,)]


def test_a_suggestion_names_each_customer_once_and_json_carries_the_mapping(
    rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "acme holding" is close to acme's name, its id and both aliases: acme is suggested once.
    path = usage(tmp_path, "ACME Holdings", "acme holding")

    assert main(["import", "usage", str(path), "--json"], runtime=rt) == 0

    [data] = json.loads(capsys.readouterr().out)
    assert data["mapped_customers"] == [{"customer": "ACME Holdings", "id": "acme", "events": 1}]
    assert data["customers_without_contracts"] == [{"customer": "acme holding", "did_you_mean": ["Acme Corp (acme)"]}]


def test_a_dry_run_shows_the_mapping_and_writes_nothing(rt: Runtime, tmp_path: Path) -> None:
    result = import_usage_file(
        rt.engine, usage(tmp_path, "Acme Corp", "Newco"), prices=rt.prices, timezone="UTC", dry_run=True
    )
    assert result.mapped_customers == [("Acme Corp", "acme", 1)]
    assert result.customers_without_contracts == ["Newco"]
    assert stored(rt, "SELECT COUNT(*) FROM usage_event") == [(0,)]


def test_a_sync_maps_customers_the_same_way(rt: Runtime, tmp_path: Path) -> None:
    path = otlp_file(tmp_path, **{"enduser.id": {"stringValue": "Acme Corp"}})

    [result] = import_otlp_files(rt, [path])

    assert result.ok, result.error
    assert stored(rt, "SELECT customer FROM usage_event") == [("acme",)]
    assert dict(result.mapped_customers) == {("Acme Corp", "acme"): 1}
    assert "  mapped 'Acme Corp' → acme (1 event)" in result.summary().splitlines()


def test_usage_stored_before_an_alias_named_it_moves_to_that_customer_when_the_alias_is_imported(
    rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Imported before any contract named "Initech Labs": a customer of its own, its cost shown with no revenue.
    path = tmp_path / "usage.csv"
    path.write_text(
        "event_id,ts,customer,product,model,input_tokens,output_tokens,task_id\n"
        "l1,2026-10-05T12:00:00Z,initech-labs,assist,gpt-4o,100,10,t1\n"
        "l2,2026-10-06T12:00:00Z,initech-labs,assist,gpt-4o,200,20,t1\n"
        "i1,2026-10-05T12:00:00Z,initech,assist,gpt-4o,300,30,t1\n"
    )
    import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC")
    sums = "SELECT customer, SUM(events), SUM(input_tokens) FROM {} GROUP BY customer ORDER BY customer"
    assert stored(rt, sums.format("daily_rollup")) == [("initech", 1, 300), ("initech-labs", 2, 300)]

    (tmp_path / "alias.csv").write_text(
        "customer,customer_name,aliases,plan,start,platform_fee_usd\ninitech,Initech Inc,initech-labs,flat,2026-01-01,1000\n"
    )
    assert main(["import", "contracts", str(tmp_path / "alias.csv")], runtime=rt) == 0
    assert (
        "moved 2 event(s) stored under 'initech-labs' to initech, whose name or alias it is now: counted as its usage "
        "from here on"
    ) in capsys.readouterr().out

    # Every rollup holds them under initech, as a rebuild from the events would: the task is one task of 3 events.
    assert stored(rt, "SELECT DISTINCT customer FROM usage_event") == [("initech",)]
    for table in ("daily_rollup", "daily_customer_product"):
        assert stored(rt, sums.format(table)) == [("initech", 3, 600)]
    assert stored(rt, "SELECT customer, SUM(events) FROM weekly_customer_product GROUP BY customer") == [("initech", 3)]
    assert stored(rt, "SELECT customer, task_id, events, day FROM task_rollup") == [
        ("initech", "t1", 3, stored(rt, "SELECT MIN(day) FROM usage_event")[0][0])
    ]
    assert stored(rt, "SELECT id FROM customer WHERE id = 'initech-labs'") == []
    # The same file again is all known: the events it names as initech-labs are initech's now.
    again = import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC")
    assert (again.imported, again.duplicates, again.kept_as_stored) == (0, 3, 0)


def test_a_contracts_import_waits_its_turn_behind_a_usage_writer_on_postgresql(rt: Runtime, tmp_path: Path) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("two writers at once: PostgreSQL (SQLite lets one write at a time)")
    # Usage stored under "il" before a contract named it: the contracts import below gives initech that alias and
    # moves it. A usage writer holds the writers' lock and is about to add customer 'initech' (its fold's ON CONFLICT
    # insert). The contracts import updated initech's row before it asked for that lock to move the usage: each
    # waited on the other, and PostgreSQL killed one (DeadlockDetected). It now takes the lock before it writes.
    import_usage_file(rt.engine, usage(tmp_path, "il", "il"), prices=rt.prices, timezone="UTC")
    (tmp_path / "alias.csv").write_text(
        "customer,customer_name,aliases,plan,start,platform_fee_usd\ninitech,Initech Inc,il,flat,2026-01-01,1000\n"
    )
    outcome: list[object] = []
    waiting = (
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"  # not another session's
    )
    with rt.engine.connect() as writer:
        writer.execute(text(PG_WRITER_LOCK))
        thread = threading.Thread(
            target=lambda: outcome.append(_attempt(lambda: import_contracts_file(rt.engine, tmp_path / "alias.csv")))
        )
        thread.start()
        deadline = time.monotonic() + 30  # until the import waits on the lock: each poll is a query, no sleep
        while not stored(rt, waiting)[0][0] and thread.is_alive() and time.monotonic() < deadline:
            pass
        assert stored(rt, waiting) == [(1,)]
        writer.execute(
            text(
                "INSERT INTO customer (id, name, aliases) VALUES ('initech', 'initech', '') ON CONFLICT (id) DO NOTHING"
            )
        )
        writer.commit()
    thread.join(60)
    assert len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    assert stored(rt, "SELECT DISTINCT customer FROM usage_event") == [("initech",)]


def _attempt(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception as exc:  # reported by the test, whatever it is
        return exc


def refusal(rt: Runtime, tmp_path: Path, contracts: str) -> list[str]:
    (tmp_path / "more.csv").write_text(contracts)
    try:
        import_contracts_file(rt.engine, tmp_path / "more.csv")
    except ContractFileError as exc:
        return str(exc).splitlines()[1:]
    raise AssertionError("the file was imported")


def test_an_alias_that_is_another_customers_id_is_refused_where_it_is_declared(rt: Runtime, tmp_path: Path) -> None:
    # Usage mapped "Acme" to acme (its id in another case) while `/margin Acme` refused it as two customers'.
    before = stored(rt, "SELECT id, name, aliases FROM customer ORDER BY id")
    lines = refusal(
        rt,
        tmp_path,
        "customer,customer_name,aliases,plan,start,platform_fee_usd\nglobex,Globex,Globex Corp;Acme,flat,2026-01-01,100\n",
    )
    assert lines == [
        "  line 2: alias 'Acme' of globex is the customer id 'acme' in another case: a name must point to one customer "
        "(usage and /margin would take it for neither); remove it from globex's aliases"
    ]
    assert stored(rt, "SELECT id, name, aliases FROM customer ORDER BY id") == before
    assert stored(rt, "SELECT COUNT(*) FROM contract WHERE customer = 'globex'") == [(0,)]


def test_a_new_customer_id_that_is_a_stored_alias_is_refused_naming_both(rt: Runtime, tmp_path: Path) -> None:
    lines = refusal(
        rt,
        tmp_path,
        "customer,customer_name,aliases,plan,start,platform_fee_usd\n"
        "initech,Initech Inc,,flat,2026-01-01,1000\n"
        "acme holdings,Acme Holdings,,flat,2026-01-01,100\n",
    )
    assert lines == [
        "  line 3: customer 'acme holdings' is acme's stored alias 'Acme Holdings' in another case: a name must point "
        "to one customer (usage and /margin would take it for neither); import acme with aliases without "
        "'Acme Holdings', or give this customer another id"
    ]
    # The fix the line names: acme's row in the same file, with its aliases without it.
    (tmp_path / "fixed.csv").write_text(
        "customer,customer_name,aliases,plan,start,platform_fee_usd\n"
        "acme,Acme Corp,ACME Inc,flat,2026-01-01,2000\n"
        "acme holdings,Acme Holdings,,flat,2026-01-01,100\n"
    )
    assert import_contracts_file(rt.engine, tmp_path / "fixed.csv").created == 1


def test_a_clash_stored_before_the_check_names_neither_on_import_and_in_margin_alike(
    rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with rt.engine.begin() as conn:  # as an import before the alias check could store it
        conn.execute(text("UPDATE customer SET aliases = 'Acme' WHERE id = 'initech'"))
    with rt.connect() as conn, pytest.raises(AmbiguousSubject):
        resolve_customer(conn, "ACME")

    assert main(["import", "usage", str(usage(tmp_path, "ACME", "acme", "Initech Inc"))], runtime=rt) == 0

    # "ACME" is acme's id in another case and initech's alias: the import takes it for neither, as /margin does.
    assert stored(rt, "SELECT customer, COUNT(*) FROM usage_event GROUP BY customer ORDER BY customer") == [
        ("ACME", 1),
        ("acme", 1),
        ("initech", 1),
    ]
    assert "1 customer(s) without a contract (their usage shows as NO REVENUE): ACME (did you mean" in (
        capsys.readouterr().out
    )


def test_a_name_that_is_another_customers_id_is_refused_and_usage_so_written_still_reaches_that_customer(
    rt: Runtime, tmp_path: Path
) -> None:
    # acme-labs named "Acme" made usage written "Acme" (acme's id in another case) a customer of its own, unannounced.
    before = stored(rt, "SELECT id, name, aliases FROM customer ORDER BY id")
    lines = refusal(
        rt,
        tmp_path,
        "customer,customer_name,aliases,plan,start,platform_fee_usd\nacme-labs,Acme,,flat,2026-01-01,100\n",
    )
    assert lines == [
        "  line 2: name 'Acme' of acme-labs is the customer id 'acme' in another case: a name must point to one "
        "customer (usage and /margin would take it for neither); give acme-labs another customer_name"
    ]
    assert stored(rt, "SELECT id, name, aliases FROM customer ORDER BY id") == before
    assert main(["import", "usage", str(usage(tmp_path, "Acme"))], runtime=rt) == 0
    assert stored(rt, "SELECT DISTINCT customer FROM usage_event") == [("acme",)]
    with rt.connect() as conn:
        assert resolve_customer(conn, "Acme") == ("acme", "Acme Corp")


def test_a_name_that_is_another_customers_name_or_alias_is_refused_naming_both(rt: Runtime, tmp_path: Path) -> None:
    lines = refusal(
        rt,
        tmp_path,
        "customer,customer_name,aliases,plan,start,platform_fee_usd\n"
        "globex,acme holdings,,flat,2026-01-01,100\n"
        "hooli,Initech Inc,,flat,2026-01-01,100\n",
    )
    assert lines == [
        "  line 2: name 'acme holdings' of globex is an alias of acme: a name must point to one customer (usage and "
        "/margin would take it for neither); give globex another customer_name, or remove 'Acme Holdings' from "
        "acme's aliases",
        "  line 3: name 'Initech Inc' of hooli is also the name of initech: a name must point to one customer (usage "
        "and /margin would take it for neither); give one of them another customer_name",
    ]
    assert stored(rt, "SELECT COUNT(*) FROM customer WHERE id IN ('globex', 'hooli')") == [(0,)]
    # A stored name an alias given now would clash with, and a new id that is a stored name, are refused alike.
    lines = refusal(
        rt,
        tmp_path,
        "customer,customer_name,aliases,plan,start,platform_fee_usd\n"
        "globex,Globex,Straße GmbH,flat,2026-01-01,100\n"
        "initech inc,,,flat,2026-01-01,100\n",
    )
    assert lines == [
        "  line 2: alias 'Straße GmbH' of globex is the name of strasse: a name must point to one customer (usage and "
        "/margin would take it for neither); remove it from globex's aliases",
        "  line 3: customer 'initech inc' is initech's stored name 'Initech Inc' in another case: a name must point to "
        "one customer (usage and /margin would take it for neither); import initech with another customer_name, or "
        "give this customer another id",
    ]


def test_a_customer_known_by_its_own_id_its_name_and_aliases_in_any_case_imports(rt: Runtime, tmp_path: Path) -> None:
    (tmp_path / "own.csv").write_text(
        "customer,customer_name,aliases,plan,start,platform_fee_usd\n"
        "globex,globex,GLOBEX;Globex Corp;globex corp,flat,2026-01-01,100\n"
        "hooli,HOOLI,Hooli,flat,2026-01-01,100\n"
        "acme,Acme Corp,ACME Inc;Acme Holdings,flat,2026-01-01,2000\n"  # a re-import as it stands
    )
    assert import_contracts_file(rt.engine, tmp_path / "own.csv").created == 2
    assert main(["import", "usage", str(usage(tmp_path, "GLOBEX", "Hooli", "acme corp"))], runtime=rt) == 0
    assert stored(rt, "SELECT customer FROM usage_event ORDER BY event_id") == [("globex",), ("hooli",), ("acme",)]


def test_an_alias_two_customers_share_is_refused_naming_both_and_usage_so_written_still_reaches_its_owner(
    rt: Runtime, tmp_path: Path
) -> None:
    # globex given acme's alias "ACME Inc" was imported; usage written "ACME Inc" (acme's until then) then reached
    # neither, and `/margin ACME Inc` refused it, with no word at import.
    before = stored(rt, "SELECT id, name, aliases FROM customer ORDER BY id")
    lines = refusal(
        rt,
        tmp_path,
        "customer,customer_name,aliases,plan,start,platform_fee_usd\n"
        "globex,Globex,Globex Corp;acme inc,flat,2026-01-01,100\n"
        "hooli,Hooli,Hooli Inc;Shared,flat,2026-01-01,100\n"
        "umbrella,Umbrella,SHARED,flat,2026-01-01,100\n",
    )
    must = "a name must point to one customer (usage and /margin would take it for neither)"
    assert lines == [
        f"  line 2: alias 'acme inc' of globex is also a stored alias of acme: {must}; remove it from globex's "
        "aliases, or import acme with aliases without 'ACME Inc'",
        f"  line 4: alias 'SHARED' of umbrella is also an alias of hooli (line 3): {must}; remove it from umbrella's "
        "aliases or 'Shared' from hooli's",
    ]
    assert stored(rt, "SELECT id, name, aliases FROM customer ORDER BY id") == before
    assert main(["import", "usage", str(usage(tmp_path, "ACME Inc"))], runtime=rt) == 0
    assert stored(rt, "SELECT DISTINCT customer FROM usage_event") == [("acme",)]
    with rt.connect() as conn:
        assert resolve_customer(conn, "acme inc") == ("acme", "Acme Corp")
    # The fix the first line names, the other way round: acme lets go of it in the same file, and globex takes it.
    (tmp_path / "fixed.csv").write_text(
        "customer,customer_name,aliases,plan,start,platform_fee_usd\n"
        "acme,Acme Corp,Acme Holdings,flat,2026-01-01,2000\n"
        "globex,Globex,Globex Corp;acme inc,flat,2026-01-01,100\n"
    )
    assert import_contracts_file(rt.engine, tmp_path / "fixed.csv").clashes == []


def test_a_clash_stored_before_the_checks_is_warned_of_on_every_import_until_a_file_ends_it(
    rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Stored as an import before the checks could: an alias two customers share, and one that is another's name.
    with rt.engine.begin() as conn:
        conn.execute(text("UPDATE customer SET aliases = 'acme holdings;Straße GmbH' WHERE id = 'initech'"))
    # A file that gives neither label is not refused for them (it did not cause them), but says each.
    (tmp_path / "other.csv").write_text(
        "customer,customer_name,aliases,plan,start,platform_fee_usd\nglobex,Globex,,flat,2026-01-01,100\n"
    )
    assert main(["import", "contracts", str(tmp_path / "other.csv")], runtime=rt) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1:] == [
        "  WARNING: 'Acme Holdings' is acme's alias and initech's alias, stored before imports refused such a clash: "
        "usage written so reaches neither and /margin refuses it; import acme with aliases without 'Acme Holdings' or "
        "initech with aliases without 'acme holdings'",
        "  WARNING: 'Straße GmbH' is initech's alias and strasse's name, stored before imports refused such a clash: "
        "usage written so reaches neither and /margin refuses it; import initech with aliases without 'Straße GmbH' "
        "or strasse with another customer_name",
    ]
    assert stored(rt, "SELECT COUNT(*) FROM contract WHERE customer = 'globex'") == [(1,)]
    assert main(["import", "contracts", "--json", str(tmp_path / "other.csv")], runtime=rt) == 0
    said = json.loads(capsys.readouterr().out)
    assert [(c["name"], c["customers"]) for c in said["clashes"]] == [
        ("Acme Holdings", ["acme", "initech"]),
        ("Straße GmbH", ["initech", "strasse"]),
    ]
    assert said["clashes"][0]["warning"] == out.splitlines()[1].removeprefix("  WARNING: ")
    # Re-importing initech with aliases without them ends both, and the warnings with them.
    (tmp_path / "fix.csv").write_text(
        "customer,customer_name,aliases,plan,start,platform_fee_usd\ninitech,Initech Inc,Initech,flat,2026-01-01,1000\n"
    )
    assert main(["import", "contracts", str(tmp_path / "fix.csv")], runtime=rt) == 0
    assert "WARNING" not in capsys.readouterr().out


def test_a_stored_clash_with_an_id_asks_every_other_holder_to_let_go_and_three_holders_all_but_one() -> None:
    found = clashes(
        [
            ("acme", "Acme Corp", ""),
            ("initech", "Initech Inc", "ACME"),
            ("globex", "Globex", "Shared;acme corp"),
            ("hooli", "Hooli", "shared"),
            ("umbrella", "SHARED", ""),
            ("strasse", "Straße GmbH", "straße gmbh"),  # one customer known twice by a label is no clash
        ]
    )
    assert [c.describe() for c in found] == [
        "'ACME' is acme's id and initech's alias, stored before imports refused such a clash: usage written so (but "
        "for an id exactly) reaches neither and /margin refuses it; import initech with aliases without 'ACME'",
        "'Acme Corp' is acme's name and globex's alias, stored before imports refused such a clash: usage written so "
        "reaches neither and /margin refuses it; import acme with another customer_name or globex with aliases "
        "without 'acme corp'",
        "'Shared' is globex's alias and hooli's alias and umbrella's name, stored before imports refused such a "
        "clash: usage written so reaches none of them and /margin refuses it; import all but one of globex with "
        "aliases without 'Shared'; hooli with aliases without 'shared'; umbrella with another customer_name",
    ]
