"""Finding customers by what people type, and suggesting each customer once."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from engine.reports.names import AmbiguousSubject, UnknownSubject, resolve_customer, resolve_product, similar_customers
from engine.runtime import Runtime

CUSTOMERS = [
    ("acme", "Acme Corp", "acme inc;acme corporation;acme co"),
    ("initech", "Initech Inc", ""),
    ("Initech Inc", "Initech Inc", ""),  # a customer that only appears in usage, under the other's display name
    ("globex", "Globex", ""),
    ("elan", "Élan Systems", "ÉLAN"),
]


@pytest.fixture
def named(runtime: Runtime) -> Runtime:
    with runtime.engine.begin() as conn:
        for cid, name, aliases in CUSTOMERS:
            conn.execute(
                text("INSERT INTO customer (id, name, aliases) VALUES (:i, :n, :a)"),
                {"i": cid, "n": name, "a": aliases},
            )
        conn.execute(
            text(
                "INSERT INTO contract (customer, product, plan, start, seats, seat_price_usd, platform_fee_usd, "
                "included_units, unit, unit_price_usd) VALUES ('initech', '', 'flat', '2026-01-01', 0, 0, 100, 0, '', 0)"
            )
        )
    return runtime


def test_a_suggestion_names_each_customer_once_by_its_name(named: Runtime) -> None:
    with named.connect() as conn, pytest.raises(UnknownSubject) as caught:
        resolve_customer(conn, "acm")
    assert caught.value.suggestions == ["Acme Corp"]  # not "Acme Corp, acme, acme inc"


def test_the_id_typed_exactly_wins_so_every_customer_can_be_opened(named: Runtime) -> None:
    with named.connect() as conn:
        assert resolve_customer(conn, "Initech Inc") == ("Initech Inc", "Initech Inc")
        assert resolve_customer(conn, "initech") == ("initech", "Initech Inc")
        assert resolve_customer(conn, "acme corporation") == ("acme", "Acme Corp")
        assert resolve_customer(conn, "ACME") == ("acme", "Acme Corp")  # its id in another case, fitting no other
        with pytest.raises(AmbiguousSubject) as caught:
            resolve_customer(conn, "INITECH INC")  # one's id in another case, and the other's name: neither
    assert str(caught.value) == (
        "'INITECH INC' is the name or id of 2 customers: Initech Inc (Initech Inc), initech (Initech Inc); ask by id"
    )


def test_a_name_or_alias_two_customers_share_names_neither_and_lists_both_by_id(named: Runtime) -> None:
    with named.engine.begin() as conn:
        for cid, name, aliases in [
            ("n1", "Same Name", ""),
            ("n2", "Same Name", "n1x;both"),
            ("n3", "Other", "n1;both"),
        ]:
            conn.execute(
                text("INSERT INTO customer (id, name, aliases) VALUES (:i, :n, :a)"),
                {"i": cid, "n": name, "a": aliases},
            )
    with named.connect() as conn:
        with pytest.raises(AmbiguousSubject) as caught:
            resolve_customer(conn, " same name ")  # min() of the two answered n1's figures, n2 never mentioned
        assert isinstance(caught.value, UnknownSubject)  # refused wherever an unknown name is, alike
        assert str(caught.value) == "'same name' is the name of 2 customers: n1 (Same Name), n2 (Same Name); ask by id"
        assert caught.value.candidates == [("n1", "Same Name"), ("n2", "Same Name")]
        with pytest.raises(AmbiguousSubject) as caught:
            resolve_customer(conn, "BOTH")
        assert str(caught.value) == "'BOTH' is an alias of 2 customers: n2 (Same Name), n3 (Other); ask by id"
        # The id typed exactly still wins over another's alias; an alias one customer has is that customer.
        assert resolve_customer(conn, "n1") == ("n1", "Same Name")
        assert resolve_customer(conn, "N1X") == ("n2", "Same Name")


def test_suggestions_tell_apart_two_customers_shown_by_the_same_name(named: Runtime) -> None:
    with named.connect() as conn, pytest.raises(UnknownSubject) as caught:
        resolve_customer(conn, "initec")
    assert sorted(caught.value.suggestions) == ["Initech Inc", "Initech Inc (initech)"]


def test_a_customer_with_no_contract_is_pointed_at_the_one_it_may_be(named: Runtime) -> None:
    with named.connect() as conn:
        assert similar_customers(conn, "Initech Inc", "Initech Inc") == ["Initech Inc (initech)"]
        assert similar_customers(conn, "zzz", "zzz") == []


def test_letters_beyond_ascii_match_in_any_case_on_every_database(named: Runtime) -> None:
    # SQLite's lower() folds only A–Z: "élan systems" found Élan Systems on PostgreSQL and nothing on SQLite.
    with named.connect() as conn:
        assert resolve_customer(conn, "élan systems") == ("elan", "Élan Systems")
        assert resolve_customer(conn, "élan") == ("elan", "Élan Systems")  # its alias, in another case


def test_a_product_is_the_one_typed_exactly_before_one_alike_but_for_case(named: Runtime) -> None:
    with named.engine.begin() as conn:
        for product in ("Agent", "agent", "Search"):
            conn.execute(
                text(
                    "INSERT INTO contract (customer, product, plan, start, seats, seat_price_usd, platform_fee_usd, "
                    "included_units, unit, unit_price_usd) VALUES ('acme', :p, 'flat', '2026-01-01', 0, 0, 100, 0, "
                    "'', 0)"
                ),
                {"p": product},
            )
    with named.connect() as conn:
        # Each database's row order picked one of the two before: each is reached by its own spelling.
        assert (resolve_product(conn, "agent"), resolve_product(conn, "Agent")) == ("agent", "Agent")
        assert resolve_product(conn, "search") == "Search"  # the only one in any case
        with pytest.raises(UnknownSubject) as caught:
            resolve_product(conn, "AGENT")  # fits both: neither is guessed
    assert caught.value.suggestions == ["Agent", "agent"]
