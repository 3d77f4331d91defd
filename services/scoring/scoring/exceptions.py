"""Every error scoring raises on purpose, in one place. Routes turn them into 404/409 answers;
the training worker logs a NotTrainable and waits for its next round."""


class UnknownModelVersion(LookupError):
    """No scoring model version has this number."""

    def __init__(self, version: int) -> None:
        super().__init__(f"no scoring model version {version}")


class ActivationRefused(Exception):
    """The version cannot be put in force as it is (its MQL definition needs a training)."""


class NotTrainable(Exception):
    """The version cannot be trained (no learning configured, too few or one-sided outcomes)."""
