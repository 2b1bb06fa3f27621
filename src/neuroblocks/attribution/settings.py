"""How one session's attribution runs: its derivative rule, its precision and the memory one batched
pass may take. Kept per session (`Session.state`), read by every attribution, view,
factorization and atlas of that session, and changed with `configure`."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .. import attribution_rules as rules
from .. import precision as precisions
from ..keywords import checked
from ..session import Session


@dataclass(frozen=True)
class AttributionSettings:
    """rule: "conservative" (LayerNorm's scale and attention's softmax weights held constant in
    derivatives) or "gradient" (the plain derivative; `attribution.rules`). precision: "float32"
    (TF32 off while attribution runs, on GPUs that have it) or "torch" (PyTorch's own setting;
    `neuroblocks.precision`). memory_budget: bytes one pass may use for its batch of tangents (the
    all-class and layer-to-layer matrices): a smaller budget, smaller batches, lower peaks."""

    rule: str = "conservative"
    precision: str = "float32"
    memory_budget: int = 128 * 2**20

    def __post_init__(self) -> None:
        rules.check(self.rule)
        precisions.check(self.precision)


@checked
def settings(session: Session) -> AttributionSettings:
    """The session's attribution settings (the defaults until `configure` changes them)."""
    return session.state("attribution", lambda s: AttributionSettings())


@checked
def configure(session: Session, *, rule: str | None = None, precision: str | None = None, memory_budget: int | None = None) -> Session:
    """Set the session's attribution settings (those given; see `AttributionSettings`), checked
    now; returns the session, so `configure(nb.Session(model), rule="gradient")` reads as one."""
    given = {k: v for k, v in {"rule": rule, "precision": precision, "memory_budget": memory_budget}.items() if v is not None}
    made = replace(settings(session), **given)
    session.set_state("attribution", made)
    return session
