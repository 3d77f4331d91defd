"""Model kinds (qualification, expansion) with one active version per kind; customers' since
and expansion score on each lead.

Revision ID: 0007_expansion_models
Revises: 0006_templates_outcomes
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_expansion_models"
down_revision = "0006_templates_outcomes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scoring_models", sa.Column("kind", sa.Text, nullable=False,
                                              server_default=sa.text("'qualification'")))
    op.drop_index("scoring_models_one_active", table_name="scoring_models")
    op.create_index("scoring_models_one_active_per_kind", "scoring_models", ["kind"],
                    unique=True, postgresql_where=sa.text("is_active"))
    for name, kind in (("customer_since", sa.DateTime(timezone=True)),
                       ("expansion_score", sa.Integer()),
                       ("expansion_qualified_at", sa.DateTime(timezone=True))):
        op.add_column("leads", sa.Column(name, kind))


def downgrade() -> None:
    for name in ("customer_since", "expansion_score", "expansion_qualified_at"):
        op.drop_column("leads", name)
    op.drop_index("scoring_models_one_active_per_kind", table_name="scoring_models")
    op.execute("UPDATE scoring_models SET is_active = false "
               "WHERE is_active AND kind <> 'qualification'")
    op.create_index("scoring_models_one_active", "scoring_models", ["is_active"], unique=True,
                    postgresql_where=sa.text("is_active"))
    op.drop_column("scoring_models", "kind")
