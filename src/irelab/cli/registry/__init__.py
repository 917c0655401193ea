"""The ``irelab registry`` commands: database set-up, users, the web service (:mod:`.server`),
CSV import/export, procedures from a plan and delivery log, ablation zones from
``irelab compare`` (:mod:`.records`), demo data and the study report (:mod:`.study`); the app and
what the commands share in :mod:`._common`.

Exit codes: 0 ok, 2 bad input or a refused operation (one sentence per problem on stderr).
Commands that act on clinical data take ``--user``: the action is checked against that user's
role and site and written to the audit trail under that name (whoever can run these commands can
read the database file; the roles are enforced for the service).
"""

from __future__ import annotations

import typer

from irelab.cli.registry import records, server, study
from irelab.cli.registry._common import registry_app

#: Every ``irelab registry`` command by its name, in the order ``--help`` lists them.
COMMANDS = {
    "init-db": server.init_db,
    "create-site": server.create_site,
    "create-user": server.create_user,
    "serve": server.serve,
    "import": records.import_csv,
    "import-procedure": records.import_procedure_cmd,
    "import-comparison": records.import_comparison_cmd,
    "export": records.export,
    "seed-demo": study.seed_demo,
    "report": study.report,
}
for _name, _command in COMMANDS.items():
    registry_app.command(_name)(_command)


def register(app: typer.Typer) -> None:
    """Attach ``irelab registry ...`` to the main app."""
    app.add_typer(registry_app, name="registry")
