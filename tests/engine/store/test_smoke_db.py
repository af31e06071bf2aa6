from sqlalchemy import text

from engine.runtime import Runtime


def test_schema_is_created_on_first_use(runtime: Runtime) -> None:
    with runtime.connect() as conn:
        tables = set(conn.dialect.get_table_names(conn))
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert {"usage_event", "daily_rollup", "contract", "outbox"} <= tables
    assert version == _head()


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from engine.store.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_migrations_build_exactly_the_schema_the_models_describe(runtime: Runtime) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with runtime.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
