"""Model sizes as dataclasses: every scLong variant is built from one :class:`ModelConfig`.

Invalid values are a :class:`~sclong.errors.ConfigError` naming the key of the workflow config's
``model`` section (``model.top_k``, ``model.large.depth``, ...); ``n_genes`` comes from the vocabulary
and ``use_leg``/``use_go`` from the variant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from sclong.errors import ConfigError

ATTENTION_BACKENDS = ("performer", "sdpa")
DECODERS = ("shared", "gene_specific")
ENCODERS = ("large", "mini", "full")
SECTION = "model"


@dataclass(frozen=True)
class EncoderConfig:
    """One Performer stack: pre-LayerNorm blocks of self-attention and a GELU feed-forward, no dropout.

    ``hidden`` is the model width; attention uses ``heads * dim_head`` inner dimensions.
    ``nb_features`` is the number of FAVOR+ random features (``performer`` backend only) and
    ``feature_redraw_interval`` the number of training calls between redraws (``None``: never).
    """

    depth: int
    heads: int
    dim_head: int
    hidden: int
    ff_mult: int = 4
    nb_features: int = 266
    feature_redraw_interval: int | None = 1000
    attention: str = "performer"

    def validate(self, key: str) -> None:
        """Raise :class:`ConfigError` naming ``key.<field>`` for the first invalid field."""
        for name in ("depth", "heads", "dim_head", "hidden", "ff_mult", "nb_features"):
            _positive_int(getattr(self, name), f"{key}.{name}")
        interval = self.feature_redraw_interval
        if interval is not None:
            _positive_int(interval, f"{key}.feature_redraw_interval")
        if self.attention not in ATTENTION_BACKENDS:
            raise ConfigError(f"{key}.attention", f"must be one of {ATTENTION_BACKENDS}, got {self.attention!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and switches of the scLong model.

    ``large`` processes the ``top_k`` highest-ranked elements of each cell (through projections
    ``gene_dim -> large.hidden -> gene_dim``), ``mini`` the rest, ``full`` all elements after the
    merge; ``mini.hidden`` and ``full.hidden`` must equal ``gene_dim``. ``top_k`` must be smaller than
    ``n_genes`` (with the mini encoder, which would otherwise get no element: a model without a working
    mini encoder is not scLong) or at most ``n_genes`` (``use_leg=False``: the whole cell may go to the
    large encoder); it is never silently clamped.
    ``use_leg=False`` is the w/o-LEG ablation (no mini encoder; only the top-k elements are encoded
    and predicted), ``use_go=False`` the w/o-GO ablation (Gene2vec table, no GCN).
    ``decoder`` is ``shared`` (one Linear(gene_dim -> 1), the public code) or ``gene_specific``
    (one linear head per gene). ``extra_gene_terms`` reproduces the public code, which adds a second,
    separate Gene2vec table plus the gene-encoder output to each element before the dual encoder and
    again after the merge.
    """

    n_genes: int
    large: EncoderConfig
    mini: EncoderConfig
    full: EncoderConfig
    gene_dim: int = 200
    expr_hidden: int = 50
    top_k: int = 4096
    use_leg: bool = True
    use_go: bool = True
    decoder: str = "shared"
    extra_gene_terms: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid key (``model.<key>``)."""
        for name in ("n_genes", "gene_dim", "expr_hidden", "top_k"):
            _positive_int(getattr(self, name), f"{SECTION}.{name}")
        for name in ENCODERS:
            encoder = getattr(self, name)
            if not isinstance(encoder, EncoderConfig):
                raise ConfigError(f"{SECTION}.{name}", f"must be an EncoderConfig, got {type(encoder).__name__}")
            encoder.validate(f"{SECTION}.{name}")
        for name in ("mini", "full"):
            if getattr(self, name).hidden != self.gene_dim:
                raise ConfigError(f"{SECTION}.{name}.hidden", f"must equal model.gene_dim ({self.gene_dim})")
        for name in ("use_leg", "use_go", "extra_gene_terms"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{SECTION}.{name}", "must be true or false")
        if self.decoder not in DECODERS:
            raise ConfigError(f"{SECTION}.decoder", f"must be one of {DECODERS}, got {self.decoder!r}")
        if self.use_leg and self.top_k >= self.n_genes:
            raise ConfigError(
                f"{SECTION}.top_k",
                f"is {self.top_k}, not below the {self.n_genes} genes: the mini encoder would get no gene",
            )
        if self.top_k > self.n_genes:
            raise ConfigError(f"{SECTION}.top_k", f"is {self.top_k}, more than the {self.n_genes} genes")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict whose keys are the dataclass fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from :meth:`to_dict` output (or a YAML mapping); unknown keys are a :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{SECTION}.{unknown[0]}", f"unknown model key (known: {', '.join(sorted(known))})")
        kwargs = dict(data)
        for name in ENCODERS:
            if name not in kwargs:
                raise ConfigError(f"{SECTION}.{name}", "missing encoder settings")
            kwargs[name] = _encoder_from_dict(kwargs[name], f"{SECTION}.{name}")
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise ConfigError(SECTION, str(err)) from err


def paper_model_config(n_genes: int = 27_874) -> ModelConfig:
    """The paper's sizes: 42x32x64 large Performer at width 1280, 2x8 mini and full-length at 200."""
    small = {"depth": 2, "heads": 8, "dim_head": 64, "hidden": 200}
    return ModelConfig(
        n_genes=n_genes,
        large=EncoderConfig(depth=42, heads=32, dim_head=64, hidden=1280),
        mini=EncoderConfig(**small),
        full=EncoderConfig(**small),
    )


def _encoder_from_dict(data: Any, key: str) -> EncoderConfig:
    if isinstance(data, EncoderConfig):
        return data
    if not isinstance(data, dict):
        raise ConfigError(key, "must be a mapping of encoder settings")
    known = {f.name for f in fields(EncoderConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", f"unknown encoder key (known: {', '.join(sorted(known))})")
    try:
        return EncoderConfig(**data)
    except TypeError as err:
        raise ConfigError(key, str(err)) from err


def _positive_int(value: Any, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, f"must be a positive integer, got {value!r}")
