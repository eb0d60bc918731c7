"""The PostgreSQL backend of a team farm: one shared store for many dispatchers and artists.

Not wired into the dispatcher or the client yet (see docs/team.md). The pieces:

* :mod:`~farmhand.engine.pg.url` - the ``postgresql://`` store URL: checked, passwords redacted.
* :mod:`~farmhand.engine.pg.db` - a connection that reconnects and re-runs a unit of work.
* :mod:`~farmhand.engine.pg.schema` - the schema as versioned migrations.
* :mod:`~farmhand.engine.pg.roles` - artist / wrangler / dispatcher roles and row-level security.
* :mod:`~farmhand.engine.pg.leases` - dispatchers, expiring node leases, adoption of a dead one's work.
* :mod:`~farmhand.engine.pg.work` - submitting, commanding and claiming work without double-booking.

Importing it needs psycopg 3 (``pip install 'farmhand[team]'``); nothing else in Farmhand imports it.
"""
