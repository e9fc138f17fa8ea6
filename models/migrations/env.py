"""Alembic environment: runs on the engine that models.db.Database hands it."""

from __future__ import annotations

from alembic import context

import models

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=models.metadata, render_as_batch=True, compare_type=True)
    context.run_migrations()
