"""The app's SQL read with pglast: INSERT columns, ON CONFLICT targets, declared foreign keys."""

from __future__ import annotations

from pathlib import Path

from mosaic_diag.checks.appsql import app_inserts, foreign_keys, inserts_in

SOURCE = '''
def save(cursor, pairs):
    cursor.execute(
        "INSERT INTO users (id, email) VALUES (%s, %s) "
        "ON CONFLICT (email) DO NOTHING")
    cursor.execute("INSERT INTO t VALUES (?, ?)")
    cursor.execute("""INSERT INTO progress (user_id, step) VALUES (%(u)s, %(s)s)
                      ON CONFLICT (step, user_id) DO UPDATE SET step = EXCLUDED.step""")
    cursor.execute("INSERT INTO x (a) VALUES (%s) ON CONFLICT (lower(a)) DO NOTHING")
    cursor.execute("INSERT INTO y (a) VALUES (%s) ON CONFLICT ON CONSTRAINT y_a DO NOTHING")
    cursor.execute("INSERT INTO broken (a VALUES")
    cursor.execute(f"INSERT INTO {name} (a) VALUES (%s)")
    note = "insert into the cart"
'''


def test_inserts_are_read_with_their_columns_and_conflict_targets() -> None:
    found = [(i.table, i.columns, i.conflict, i.line) for i in inserts_in(SOURCE, "app.py")]
    assert found == [
        ("users", ("id", "email"), ("email",), 4),
        ("t", None, None, 6),
        ("progress", ("user_id", "step"), ("step", "user_id"), 7),
        ("x", ("a",), None, 9),   # an expression target is not judged
        ("y", ("a",), None, 10),  # ON CONSTRAINT names it: not inferred from columns
    ]


def test_app_files_are_found_but_not_tests_or_virtualenvs(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "db.py").write_text(SOURCE)
    for skipped in ("tests", ".venv/lib"):
        (tmp_path / skipped).mkdir(parents=True)
        (tmp_path / skipped / "x.py").write_text(SOURCE)
    (tmp_path / "bad.py").write_text("def (:\n  'INSERT INTO z (a) VALUES (1)'\n")
    assert {i.file for i in app_inserts(tmp_path)} == {"app/db.py"}


def test_foreign_keys_of_column_and_table_constraints() -> None:
    ddl = ("CREATE TABLE a (id int PRIMARY KEY);\n"
           "CREATE TABLE b (\n  id int,\n  a_id int REFERENCES a (id),\n  x int, y int,\n"
           "  FOREIGN KEY (x, y) REFERENCES c (p, q)\n);\n")
    assert [(f.table, f.columns, f.ref_table, f.ref_columns, f.line) for f in foreign_keys(ddl)] == [
        ("b", ("a_id",), "a", ("id",), 4), ("b", ("x", "y"), "c", ("p", "q"), 6)]
    assert foreign_keys("CREATE TABLE (") == ()
