"""``TrainConfig``: the description of a run, every knob of it, read by training, evaluation,
estimators and the demo alike (this module sits below all of them).

A config is built from a recipe, a file and overrides, later ones winning
(:func:`mireg.recipes.build_config`)::

    recipe (mireg.registry.RECIPES)  ->  TOML / YAML file  ->  command-line overrides

Every field has a default, so ``TrainConfig()`` is a valid (tiny, digits) run. Unknown keys are an
error that names the key and the closest known field, never silently ignored::

    cfg = build_config(recipe="mart-resnet18", file="my.toml", overrides={"epochs": 10})
    cfg = build_config(overrides=parse_overrides(["lr=0.05", "lr_milestones=[50, 75]"]))
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mireg._validation import check_choice, check_eps, check_number

__all__ = ["FIELD_NAMES", "RESUME_FIXED", "RESUME_MAY_CHANGE", "TrainConfig", "check_keys", "load_config_file",
           "parse_overrides"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("multistep", "cosine", "constant", "one_cycle", "cyclic")
CYCLES = ("one_cycle", "cyclic")  # schedules that ramp up from 0 themselves (no lr_warmup_epochs)
ATTACK_MODES = ("eval", "train")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
AUTO = "auto"


@dataclass
class TrainConfig:
    """All settings of one training run, each checked when the config is made (``TypeError``/``ValueError``
    naming the field); what every field means: ``docs/training.md``, "All settings".

    Fields: data (dataset, data_root, download, image_size, channels, val_size, augment), model (model,
    model_kwargs, normalize), optimisation (epochs, batch_size, optimizer, lr, momentum, nesterov, weight_decay,
    lr_schedule, lr_milestones, lr_gamma, lr_warmup_epochs, lr_peak), method and attack (method, attack, eps, alpha,
    steps, attack_mode, attack_kwargs, beta, lam, mi_weight, estimators, mi_warmup_epochs, mi_ramp_epochs,
    init_from), selection (val_steps, val_alpha, eval_every) and operations (seed, device, amp, channels_last,
    compile, compile_mode, fused, drop_last, out_dir, resume, overwrite, progress, quiet, log_every, save_every,
    recipe). The "auto" fields (val_size, augment, compile, fused, drop_last) are resolved when the run starts.

    Examples:
        >>> from mireg.config import TrainConfig
        >>> TrainConfig(method="trades", epochs=2).replace(lr=0.1).lr
        0.1
    """

    # data and model
    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    image_size: int | None = None
    channels: int | None = None
    val_size: int | str = AUTO
    model: str = "small_cnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    normalize: bool = False
    augment: bool | str = AUTO
    # optimisation
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    lr_schedule: str = "multistep"
    lr_milestones: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    lr_warmup_epochs: float = 0.0
    lr_peak: float | None = None
    # method and attack
    method: str = "at"
    attack: str | None = None
    eps: float = 8 / 255
    alpha: float = 2 / 255
    steps: int = 10
    attack_mode: str = "eval"
    attack_kwargs: dict[str, Any] = field(default_factory=dict)
    beta: float | None = None
    lam: float | None = None
    mi_weight: float | None = None
    estimators: str | None = None
    mi_warmup_epochs: float = 0.0
    mi_ramp_epochs: float = 0.0
    init_from: str | None = None
    # selection
    val_steps: int = 10
    val_alpha: float | None = None
    eval_every: int = 1
    # operations
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    compile: bool | str = AUTO
    compile_mode: str = "default"
    fused: bool | str = AUTO
    drop_last: bool | str = AUTO
    out_dir: str = "runs/train"
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    quiet: bool = False
    log_every: int = 10
    save_every: int = 0
    recipe: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> TrainConfig:
        """Check every field; raise ``TypeError``/``ValueError`` naming the field."""
        for name in ("dataset", "model", "method", "optimizer", "lr_schedule", "attack_mode", "device",
                     "out_dir"):
            _check_str(name, getattr(self, name))
        for name in ("data_root", "attack", "estimators", "init_from", "recipe"):
            value = getattr(self, name)
            if value is not None:
                _check_str(name, value)
        for name in ("download", "normalize", "nesterov", "amp", "channels_last", "resume", "overwrite", "progress",
                     "quiet"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in ("augment", "compile", "fused", "drop_last"):
            if not isinstance(getattr(self, name), bool) and getattr(self, name) != AUTO:
                raise TypeError(f"{name} must be true, false or \"auto\", got {getattr(self, name)!r}")
        check_number("epochs", self.epochs, low=1, integer=True)
        check_number("batch_size", self.batch_size, low=1, integer=True)
        if self.val_size != AUTO:
            check_number("val_size", self.val_size, low=0, integer=True)
        check_number("steps", self.steps, low=0 if self.method == "clean" else 1, integer=True)
        check_number("val_steps", self.val_steps, low=0, integer=True)
        check_number("eval_every", self.eval_every, low=1, integer=True)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("log_every", self.log_every, low=1, integer=True)
        check_number("save_every", self.save_every, low=0, integer=True)
        for name in ("image_size", "channels"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), low=1, integer=True)
        check_number("lr", self.lr, low=0, low_open=True)
        check_number("momentum", self.momentum, low=0, high=1)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("lr_gamma", self.lr_gamma, low=0, low_open=True)
        for name in ("eps", "alpha", "val_alpha"):
            if getattr(self, name) is not None:
                _check_linf(name, getattr(self, name), self.attack)
        for name in ("beta", "lam", "mi_weight", "mi_warmup_epochs", "mi_ramp_epochs"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), low=0)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("lr_schedule", self.lr_schedule, SCHEDULES)
        check_choice("attack_mode", self.attack_mode, ATTACK_MODES)
        check_choice("compile_mode", self.compile_mode, COMPILE_MODES)
        self._validate_schedule()
        if not isinstance(self.lr_milestones, (list, tuple)):
            raise TypeError(f"lr_milestones must be a list of epoch numbers, got {self.lr_milestones!r}")
        self.lr_milestones = [int(check_number("lr_milestones[]", m, low=1, integer=True))
                              for m in self.lr_milestones]
        if self.lr_milestones != sorted(self.lr_milestones):
            raise ValueError(f"lr_milestones must be increasing, got {self.lr_milestones}")
        for name in ("attack_kwargs", "model_kwargs"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"{name} must be a table/dict, got {type(getattr(self, name)).__name__}")
        if self.resume and self.overwrite:
            raise ValueError("resume=true (--resume) continues the run in out_dir and overwrite=true (--overwrite) "
                             "replaces it: choose one")
        return self

    def _validate_schedule(self) -> None:
        """lr_warmup_epochs and lr_peak against the schedule they apply to."""
        check_number("lr_warmup_epochs", self.lr_warmup_epochs, low=0)
        if self.lr_warmup_epochs >= self.epochs:
            raise ValueError(f"lr_warmup_epochs={self.lr_warmup_epochs} must be shorter than the run "
                             f"(epochs={self.epochs})")
        if self.lr_warmup_epochs and self.lr_schedule in CYCLES:
            raise ValueError(f"lr_schedule={self.lr_schedule!r} ramps up from 0 by itself: set lr_warmup_epochs=0 "
                             "(or use a multistep, cosine or constant schedule with warmup)")
        if self.lr_peak is not None:
            check_number("lr_peak", self.lr_peak, low=0, low_open=True)
            if self.lr_peak >= 1:
                raise ValueError(f"lr_peak must be a fraction of the run in (0, 1), got {self.lr_peak}")
            if self.lr_schedule not in CYCLES:
                raise ValueError(f"lr_peak applies to the one_cycle and cyclic schedules only, not to "
                                 f"lr_schedule={self.lr_schedule!r}: set lr_peak=none")

    @property
    def validation_alpha(self) -> float:
        """Step size of the validation PGD (``val_alpha``, default eps/4)."""
        return self.val_alpha if self.val_alpha is not None else self.eps / 4

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stored in checkpoints and ``config.json``)."""
        return json.loads(json.dumps(asdict(self)))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (unknown keys raise ``ValueError``)."""
        check_keys(changes, "override")
        return dataclasses.replace(self, **changes)


FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))

#: what a resumed run (``resume=true``) may set anew, taking effect from the next epoch and recorded: the length,
#: the optimiser's schedule and hyperparameters, validation cadence, logging and where/how it runs. Every other field
#: defines the experiment (method, model, data, attack, eps, seed, ...) and must equal the run's (docs/training.md).
RESUME_MAY_CHANGE = ("epochs", "lr", "momentum", "nesterov", "weight_decay", "lr_schedule", "lr_milestones",
                     "lr_gamma", "lr_warmup_epochs", "lr_peak", "eval_every", "log_every", "save_every", "progress",
                     "quiet", "device", "amp", "channels_last", "compile", "compile_mode", "fused", "drop_last",
                     "data_root", "download", "out_dir", "resume", "overwrite", "recipe")
#: the fields a resumed run must keep (every field not in :data:`RESUME_MAY_CHANGE`)
RESUME_FIXED = tuple(name for name in FIELD_NAMES if name not in RESUME_MAY_CHANGE)


def _check_linf(name: str, value: object, attack: str | None) -> None:
    """eps, alpha and val_alpha are L-inf sizes (the validation PGD is L-inf): in (0, 1]."""
    try:
        check_eps(name, value)
    except ValueError as err:
        if attack is None or not isinstance(value, (int, float)) or value <= 1:
            raise
        raise ValueError(f"{err} ({name} is an L-inf size here, as the validation PGD is L-inf; an L2 training "
                         f"attack takes its own in attack_kwargs, e.g. --set 'attack_kwargs={{{name} = {value:g}}}')"
                         ) from None


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty string, got {value!r}")


def check_keys(mapping: dict[str, Any], where: str) -> None:
    """Raise a ``ValueError`` naming the closest field for every key that is not a TrainConfig field.

    Args:
        mapping: settings by field name (only the keys are checked).
        where: where they come from, for the message (e.g. ``"overrides"``).

    Examples:
        >>> from mireg.config import check_keys
        >>> check_keys({"lr": 0.1}, "overrides")  # a known field: nothing raised
    """
    for key in mapping:
        if key not in FIELD_NAMES:
            close = difflib.get_close_matches(str(key), FIELD_NAMES, n=2)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"unknown training setting {key!r} in {where}.{hint} "
                             f"Known settings: {', '.join(FIELD_NAMES)}")


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file of TrainConfig fields.

    The file is a flat table of field names, e.g. (TOML)::

        recipe = "digits-at"       # optional: the recipe the file starts from
        epochs = 20
        lr_milestones = [15]
        [attack_kwargs]
        random_start = false

    Args:
        path: the file; YAML needs PyYAML.

    Returns:
        Its settings by field name (checked against :class:`TrainConfig`'s fields).

    Examples:
        >>> from mireg.config import load_config_file
        >>> _ = open("run.toml", "w").write("epochs = 20\\nlr_milestones = [15]\\n")
        >>> load_config_file("run.toml")
        {'epochs': 20, 'lr_milestones': [15]}
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as err:
                raise ValueError(f"config file {path!r} is not valid TOML: {err}") from None
    elif ext in (".yaml", ".yml"):
        import yaml

        with open(path) as fh:
            try:
                data = yaml.safe_load(fh) or {}
            except yaml.YAMLError as err:
                raise ValueError(f"config file {path!r} is not valid YAML: {err}") from None
    else:
        raise ValueError(f"config file {path!r} must end in .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ValueError(f"config file {path!r} must hold a table of settings, got {type(data).__name__}")
    check_keys(data, f"config file {path!r}")
    return data


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["epochs=5", "lr_milestones=[3, 4]", "attack=pgd"]`` -> a dict of typed values.

    Values are read as TOML/JSON literals when they parse (numbers, true/false, lists, tables) and as
    plain strings otherwise; ``none``/``null`` give None.

    Args:
        items: ``key=value`` strings, keys :class:`TrainConfig` fields.

    Returns:
        Field name -> typed value.

    Examples:
        >>> from mireg.config import parse_overrides
        >>> parse_overrides(["epochs=5", "lr_milestones=[3, 4]", "attack=pgd", "beta=none"])
        {'epochs': 5, 'lr_milestones': [3, 4], 'attack': 'pgd', 'beta': None}
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value (e.g. epochs=5)")
        key, raw = (s.strip() for s in item.split("=", 1))
        check_keys({key: None}, "overrides")
        out[key] = _literal(raw)
    return out


def _literal(raw: str) -> Any:
    if raw.lower() in ("none", "null"):
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
