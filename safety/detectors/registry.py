"""The detector registry, loaded from ``registry.toml`` (data, not an if-chain).

``Registry.detector(name)`` builds a detector on first use and caches it for the life of the
process (thread-safe), so models load lazily and once. A :class:`Bundle` says which detector
serves each channel; its digest covers every detector's artifact digest, so a result names the
exact weights that produced it.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from safety.artifacts import load_artifact
from safety.detectors.protocol import Detector, DetectorKind
from safety.errors import ConfigurationError, ModelError, UnknownDetectorError
from safety.taxonomy import Channel

#: Which detector kind serves which channel.
CHANNEL_KINDS: dict[Channel, DetectorKind] = {
    Channel.TEXT: DetectorKind.TEXT,
    Channel.IMAGE: DetectorKind.IMAGE,
    Channel.CROSS_MODAL: DetectorKind.TEXT_IMAGE,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorSpec:
    name: str
    kind: DetectorKind
    factory: Callable[..., Detector] | str
    #: The artifacts (folders under ``models/``) the detector loads; their digests enter the
    #: bundle digest. TOML: ``artifact = "name"`` or ``artifacts = ["a", "b"]``.
    artifacts: tuple[str, ...] = ()
    summary: str = ""
    #: Keyword arguments for the factory (``[detectors.NAME.options]`` in the TOML).
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Detector:
        factory = _resolve(self.factory) if isinstance(self.factory, str) else self.factory
        try:
            return factory(**self.options)
        except TypeError as exc:
            if self.options:
                raise ConfigurationError(f"detector {self.name!r}: options {sorted(self.options)} rejected: {exc}") from exc
            raise


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    id: str
    #: The detector whose scores are the channel's scores.
    detectors: Mapping[Channel, str] = field(default_factory=dict)
    #: Secondary detectors per channel: their scores are reported (for the combiner), not judged.
    auxiliary: Mapping[Channel, tuple[str, ...]] = field(default_factory=dict)
    #: The calibrated combiner's artifact (``models/<name>``), fitted on these detectors' outputs;
    #: ``None``: categories are merged by their maximum over channels.
    combiner: str | None = None
    #: Explain the text of every verdict that is not ``allow`` (the text detector's
    #: ``explain_many``, one call per batch) instead of every text the detector finds risky.
    explain_text: bool = False
    summary: str = ""

    def all_detectors(self) -> list[tuple[Channel, str]]:
        return [*self.detectors.items(), *((c, n) for c, names in self.auxiliary.items() for n in names)]


def _resolve(path: str) -> Callable[[], Detector]:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"factory {path!r} is not of the form 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot import detector factory {path!r}: {exc}") from exc
    return obj


_DEFAULT: "Registry | None" = None
_DEFAULT_LOCK = threading.Lock()


class Registry:
    def __init__(self, specs: Mapping[str, DetectorSpec] = (), bundles: Mapping[str, Bundle] = ()) -> None:
        self._specs: dict[str, DetectorSpec] = dict(specs)
        self._bundles: dict[str, Bundle] = dict(bundles)
        self._instances: dict[str, Detector] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_toml(cls, text: str) -> "Registry":
        data = tomllib.loads(text)
        specs = {}
        for name, entry in data.get("detectors", {}).items():
            try:
                artifacts = tuple(entry.get("artifacts", ())) + ((entry["artifact"],) if "artifact" in entry else ())
                specs[name] = DetectorSpec(name=name, kind=DetectorKind(entry["kind"]), factory=entry["factory"],
                                           artifacts=artifacts, summary=entry.get("summary", ""),
                                           options=dict(entry.get("options", {})))
            except (KeyError, ValueError) as exc:
                raise ConfigurationError(f"registry entry {name!r} is invalid: {exc!r}") from exc
        registry = cls(specs)
        for bundle_id, entry in data.get("bundles", {}).items():
            detectors = {Channel(c): entry[c.value] for c in Channel if c.value in entry}
            auxiliary = {Channel(c): tuple(names) for c, names in entry.get("auxiliary", {}).items()}
            registry.add_bundle(Bundle(id=bundle_id, detectors=detectors, auxiliary=auxiliary,
                                       combiner=entry.get("combiner"), explain_text=bool(entry.get("explain_text", False)),
                                       summary=entry.get("summary", "")))
        return registry

    @classmethod
    def default(cls) -> "Registry":
        """The process-wide registry of ``registry.toml``: every default moderator shares its models."""
        global _DEFAULT
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = cls.from_toml((resources.files("safety.detectors") / "registry.toml").read_text(encoding="utf-8"))
            return _DEFAULT

    # -- registration -------------------------------------------------------------------------

    def add(self, spec: DetectorSpec) -> None:
        with self._lock:
            self._specs[spec.name] = spec
            self._instances.pop(spec.name, None)

    def add_bundle(self, bundle: Bundle) -> None:
        for channel, name in bundle.all_detectors():
            spec = self.spec(name)
            if spec.kind is not CHANNEL_KINDS[channel]:
                raise ConfigurationError(
                    f"bundle {bundle.id!r}: detector {name!r} is a {spec.kind.value} detector,"
                    f" channel {channel.value!r} needs {CHANNEL_KINDS[channel].value}"
                )
        self._bundles[bundle.id] = bundle

    # -- lookup --------------------------------------------------------------------------------

    def spec(self, name: str) -> DetectorSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownDetectorError(f"unknown detector {name!r}; known: {', '.join(sorted(self._specs))}") from None

    def bundle(self, bundle_id: str) -> Bundle:
        try:
            return self._bundles[bundle_id]
        except KeyError:
            raise UnknownDetectorError(
                f"unknown model bundle {bundle_id!r}; known: {', '.join(sorted(self._bundles))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._specs)

    def detector(self, name: str) -> Detector:
        """The detector called ``name``, built on first use and then shared (lazy, once per process)."""
        spec = self.spec(name)
        instance = self._instances.get(name)
        if instance is None:
            with self._lock:
                instance = self._instances.get(name)
                if instance is None:
                    instance = spec.build()
                    self._instances[name] = instance
        return instance

    def bundle_digest(self, bundle: Bundle) -> str:
        """sha256 over ``channel=detector@artifact-digest`` lines; reads manifests, not weights."""
        lines = [f"bundle={bundle.id}"]
        for channel, name in sorted(bundle.all_detectors()):
            spec = self.spec(name)
            digests = []
            for artifact in spec.artifacts:
                try:
                    digests.append(load_artifact(artifact, verify=False).sha256)
                except ModelError:
                    digests.append("missing")
            lines.append(f"{channel.value}={spec.name}@{'+'.join(digests) or '-'}")
        if bundle.combiner is not None:
            try:
                lines.append(f"combiner={bundle.combiner}@{load_artifact(bundle.combiner, verify=False).sha256}")
            except ModelError:
                lines.append(f"combiner={bundle.combiner}@missing")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
