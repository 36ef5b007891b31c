"""moderate / moderate_batch: validate -> run channels (batched) -> combine -> policy -> result.

Nothing else lives here. Each channel runs its detector once per batch, in a worker thread with a
deadline; a detector that raises, times out or is not installed turns the verdict into the
policy's failure action (``review`` by default, never ``allow``) with a reason naming the channel.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

from safety.cache import LRUCache, result_key
from safety.combine import CalibratedCombiner, load_combiner, merge
from safety.detectors.protocol import Detection, TextExplainer
from safety.detectors.registry import Registry
from safety.errors import DetectorError, DetectorTimeoutError, InputError, SafetyError
from safety.inputs import ModerationInput, prepare, prepare_item
from safety.limits import InputLimits
from safety.policy import Policy, get_policy
from safety.runtime import inference_executor
from safety.schema import (
    AuxiliaryResult,
    BundleRef,
    ChannelResult,
    ChannelStatus,
    ErrorInfo,
    ImageSummary,
    InputSummary,
    ModerationResult,
    PolicyRef,
    Reason,
    Region,
    Span,
)
from safety.settings import Settings
from safety.taxonomy import Action, Category, Channel

log = logging.getLogger("safety")

PolicyLike = str | Path | Policy

#: What a channel needs from an item, and how to hand it to the channel's detector.
_CHANNEL_INPUTS: dict[Channel, Callable[[ModerationInput], object | None]] = {
    Channel.TEXT: lambda item: item.text,
    Channel.IMAGE: lambda item: item.image,
    Channel.CROSS_MODAL: lambda item: (item.text, item.image) if item.text is not None and item.image is not None else None,
}
_MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class _ChannelRun:
    detections: list[Detection] | None
    latency_ms: float
    error: ErrorInfo | None = None
    status: ChannelStatus = ChannelStatus.OK
    auxiliary: dict[str, AuxiliaryResult] = field(default_factory=dict)


class Moderator:
    """Holds a model bundle and runs moderation. Thread-safe; share one per process."""

    def __init__(self, *, registry: Registry | None = None, bundle: str = "offline-default",
                 limits: InputLimits | None = None, detector_timeout_s: float = 30.0,
                 default_policy: PolicyLike = "default", cache_size: int = 1024) -> None:
        self.registry = registry or Registry.default()
        self.bundle = self.registry.bundle(bundle)
        self.limits = limits or InputLimits()
        self.detector_timeout_s = detector_timeout_s
        self.default_policy = get_policy(default_policy)  # fail fast on a bad default
        #: The bundle's calibrated combiner (a small JSON model: loaded now, so a bad one fails fast).
        self.combiner: CalibratedCombiner | None = load_combiner(self.bundle.combiner) if self.bundle.combiner else None
        self._inference = inference_executor()  # models load and run on one thread (safety.runtime)
        self._bundle_ref: BundleRef | None = None
        #: Results of identical inputs under the same policy (``cache_size=0`` turns it off).
        self.cache: LRUCache[ModerationResult] = LRUCache(cache_size)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Moderator":
        return cls(bundle=settings.bundle, limits=settings.limits(), detector_timeout_s=settings.detector_timeout_s,
                   default_policy=settings.default_policy, cache_size=settings.cache_size)

    @property
    def bundle_ref(self) -> BundleRef:
        if self._bundle_ref is None:
            self._bundle_ref = BundleRef(id=self.bundle.id, sha256=self.registry.bundle_digest(self.bundle))
        return self._bundle_ref

    def warm_up(self) -> dict[Channel, str | None]:
        """Load every detector of the bundle now; return each channel's load error (or None)."""
        errors: dict[Channel, str | None] = {}
        for channel, name in self.bundle.all_detectors():
            try:
                self._inference.submit(self.registry.detector, name).result()
                errors.setdefault(channel, None)
            except Exception as exc:  # noqa: BLE001 - reported, and requests fail closed on it
                errors[channel] = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
                log.error("detector %s for channel %s failed to load: %s", name, channel.value, type(exc).__name__)
        return errors

    # -- public API ---------------------------------------------------------------------------

    def moderate(self, text: object = None, image: object = None, *, policy: PolicyLike | None = None) -> ModerationResult:
        started = time.perf_counter()
        item = prepare(text, image, limits=self.limits)
        return self._moderate_prepared([item], [self._policy(policy)], started)[0]

    def moderate_batch(self, items: Sequence[Mapping[str, object]], *, policy: PolicyLike | None = None) -> list[ModerationResult]:
        started = time.perf_counter()
        if isinstance(items, (str, bytes, Mapping)):
            raise InputError("moderate_batch takes a sequence of {'text': ..., 'image': ...} mappings")
        prepared = [prepare_item(i, item, limits=self.limits) for i, item in enumerate(items)]
        return self._moderate_prepared(prepared, [self._policy(policy)] * len(prepared), started)

    def moderate_inputs(self, items: Sequence[ModerationInput], *, policy: PolicyLike | None = None,
                        policies: Sequence[PolicyLike | None] | None = None) -> list[ModerationResult]:
        """Moderate items already validated with :func:`safety.inputs.prepare` (used by the server).

        ``policies`` gives each item its own policy (the server's micro-batches mix requests);
        the models still run once for the whole batch."""
        items = list(items)
        if policies is not None and len(policies) != len(items):
            raise InputError(f"{len(policies)} policies for {len(items)} items")
        resolved = [self._policy(policy)] * len(items) if policies is None else [self._policy(p) for p in policies]
        return self._moderate_prepared(items, resolved, time.perf_counter())

    # -- internals ----------------------------------------------------------------------------

    def _policy(self, policy: PolicyLike | None) -> Policy:
        return self.default_policy if policy is None else get_policy(policy)

    def _cache_keys(self, items: list[ModerationInput], policies: list[Policy]) -> list[str]:
        digests: dict[int, str] = {}  # a batch usually shares one policy object: serialise it once
        for policy in policies:
            if id(policy) not in digests:
                digests[id(policy)] = _policy_digest(policy)
        return [result_key(text_sha256=item.text_sha256, image_sha256=None if item.image is None else item.image.sha256,
                           policy_digest=digests[id(policy)], bundle_digest=self.bundle_ref.sha256)
                for item, policy in zip(items, policies, strict=True)]

    def _moderate_prepared(self, items: list[ModerationInput], policies: list[Policy], started: float) -> list[ModerationResult]:
        if not items:
            return []
        keys = self._cache_keys(items, policies) if self.cache.max_entries else [None] * len(items)
        results: list[ModerationResult | None] = [None if key is None else self.cache.get(key) for key in keys]
        todo = [i for i, result in enumerate(results) if result is None]
        if todo:
            batch = [items[i] for i in todo]
            deadline = time.monotonic() + self.detector_timeout_s
            pending = {channel: self._submit(channel, batch) for channel in Channel}
            runs = {channel: self._collect(channel, job, deadline) for channel, job in pending.items()}
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            computed = [self._verdict(j, batch[j], runs, policies[i], elapsed_ms) for j, i in enumerate(todo)]
            if self.bundle.explain_text:
                computed = self._explain_text(batch, computed, deadline)
            for i, result in zip(todo, computed, strict=True):
                results[i] = result
                if keys[i] is not None and not any(c.status.failed for c in result.channels.values()):
                    self.cache.put(keys[i], result)
        elapsed_ms = round((time.perf_counter() - started) * 1000.0, 3)
        return [result if i in todo else result.model_copy(update={"id": f"modr-{uuid.uuid4().hex}", "cached": True,
                                                                   "latency_ms": elapsed_ms})
                for i, result in enumerate(results)]

    def _explain_text(self, items: list[ModerationInput], results: list[ModerationResult],
                      deadline: float) -> list[ModerationResult]:
        """Spans for the text of every result that is not ``allow``, on the text category that the
        text channel scored highest among those the policy acted on: one ``explain_many`` call.
        Explanations are evidence, not the verdict: if they fail, results go out without them."""
        requests: list[tuple[int, str, Category]] = []
        for n, (item, result) in enumerate(zip(items, results, strict=True)):
            text_channel = result.channels[Channel.TEXT]
            if result.action is Action.ALLOW or text_channel.status is not ChannelStatus.OK or text_channel.spans:
                continue
            acted = [c for c, r in result.categories.items()
                     if r.action is not Action.ALLOW and c.value in text_channel.scores]
            if acted:
                requests.append((n, item.text, max(acted, key=lambda c: text_channel.scores[c.value])))
        detector = self.registry.detector(self.bundle.detectors[Channel.TEXT]) if requests else None
        if not requests or not isinstance(detector, TextExplainer):
            return results
        try:
            spans = self._inference.submit(detector.explain_many, [(t, c) for _, t, c in requests]).result(
                timeout=max(0.0, deadline - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - the verdict stands without its explanation
            log.warning("text explanations failed: %s", type(exc).__name__)
            return results
        out = list(results)
        for (n, _, _), found in zip(requests, spans, strict=True):
            channels = dict(out[n].channels)
            channels[Channel.TEXT] = channels[Channel.TEXT].model_copy(update={
                "spans": [Span(start=s.start, end=s.end, category=s.category, score=s.score) for s in found]})
            out[n] = out[n].model_copy(update={"channels": channels})
        return out

    def _submit(self, channel: Channel, items: list[ModerationInput]) -> tuple[list[int], Future | ErrorInfo | None]:
        needed = [i for i, item in enumerate(items) if _CHANNEL_INPUTS[channel](item) is not None]
        if not needed:
            return needed, None
        name = self.bundle.detectors.get(channel)
        if name is None:
            return needed, ErrorInfo(
                type="no_detector",
                message=f"no {channel.value} detector is installed in model bundle {self.bundle.id!r};"
                        " the content was not assessed",
            )
        inputs = [_CHANNEL_INPUTS[channel](items[i]) for i in needed]
        return needed, self._inference.submit(self._predict, channel, name, inputs)

    def _run_detector(self, name: str, inputs: list) -> list[Detection]:
        detections = self.registry.detector(name).predict_batch(inputs)
        if len(detections) != len(inputs):
            raise DetectorError(f"detector {name!r} returned {len(detections)} results for {len(inputs)} inputs")
        return detections

    def _predict(self, channel: Channel, name: str, inputs: list) -> tuple[list[Detection], float, list[dict]]:
        """The channel's primary detector (its failure fails the channel), then its auxiliary ones
        (a failure there is reported beside the result and changes nothing else)."""
        t0 = time.perf_counter()
        detections = self._run_detector(name, inputs)
        latency = (time.perf_counter() - t0) * 1000.0
        auxiliary: list[dict[str, AuxiliaryResult]] = [{} for _ in inputs]
        for aux_name in self.bundle.auxiliary.get(channel, ()):
            try:
                detector = self.registry.detector(aux_name)
                for slot, detection in zip(auxiliary, self._run_detector(aux_name, inputs), strict=True):
                    slot[detector.info.id] = AuxiliaryResult(
                        scores={c.value: float(v) for c, v in detection.scores.items()},
                        model_version=detector.info.version)
            except Exception as exc:  # noqa: BLE001 - auxiliary evidence is optional
                log.warning("auxiliary detector %s failed: %s", aux_name, type(exc).__name__)
                error = ErrorInfo(type=getattr(exc, "code", DetectorError.code),
                                  message=f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS])
                for slot in auxiliary:
                    slot[aux_name] = AuxiliaryResult(error=error)
        return detections, latency, auxiliary

    def _collect(self, channel: Channel, job: tuple[list[int], Future | ErrorInfo | None], deadline: float) -> dict[int, _ChannelRun]:
        needed, work = job
        if work is None:
            return {}
        if isinstance(work, ErrorInfo):
            return {i: _ChannelRun(None, 0.0, work, ChannelStatus.UNAVAILABLE) for i in needed}
        try:
            detections, latency, auxiliary = work.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            work.cancel()
            error = ErrorInfo(type=DetectorTimeoutError.code,
                              message=f"the {channel.value} detector did not answer within {self.detector_timeout_s:g} s")
            log.warning("channel %s timed out", channel.value)
            return {i: _ChannelRun(None, self.detector_timeout_s * 1000.0, error, ChannelStatus.TIMEOUT) for i in needed}
        except Exception as exc:  # noqa: BLE001 - any detector failure fails closed
            code = exc.code if isinstance(exc, SafetyError) else DetectorError.code
            error = ErrorInfo(type=code, message=f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS])
            log.error("channel %s failed: %s", channel.value, type(exc).__name__)
            return {i: _ChannelRun(None, 0.0, error, ChannelStatus.ERROR) for i in needed}
        return {i: _ChannelRun([d], latency, auxiliary=aux) for i, d, aux in zip(needed, detections, auxiliary, strict=True)}

    def _channel_result(self, channel: Channel, run: _ChannelRun | None) -> ChannelResult:
        if run is None:
            return ChannelResult(status=ChannelStatus.SKIPPED)
        name = self.bundle.detectors.get(channel)
        info = None
        if run.status is ChannelStatus.OK and name is not None:
            info = self.registry.detector(name).info
        detection = run.detections[0] if run.detections else None
        return ChannelResult(
            status=run.status,
            scores={**{c.value: float(s) for c, s in detection.scores.items()},
                    **{name: float(v) for name, v in detection.signals.items()}} if detection else {},
            raw_scores={k: float(v) for k, v in detection.raw_scores.items()} if detection else {},
            model_id=info.id if info else name,
            model_version=info.version if info else None,
            model_sha256=info.sha256 if info else None,
            latency_ms=round(run.latency_ms, 3),
            error=run.error,
            spans=[Span(start=s.start, end=s.end, category=s.category, score=s.score) for s in detection.spans]
            if detection else [],
            regions=[Region(category=r.category, score=r.score, box=r.box, frame=r.frame, view=r.view, method=r.method)
                     for r in detection.regions] if detection else [],
            transforms=list(detection.transforms) if detection else [],
            unnormalized_scores=None if detection is None or detection.unnormalized_scores is None
            else {c.value: float(v) for c, v in detection.unnormalized_scores.items()},
            auxiliary=run.auxiliary,
        )

    def _normalisation_reasons(self, channels: Mapping[Channel, ChannelResult], policy: Policy) -> list[Reason]:
        """Say so when scoring a normalised form (de-obfuscated text) changed a category's action."""
        changed = [c for c, r in channels.items() if r.transforms and r.unnormalized_scores is not None]
        if not changed:
            return []
        actual, _ = policy.judge(merge(channels, self.combiner))
        as_given, _ = policy.judge(merge(_unnormalized_view(channels), self.combiner))
        reasons = []
        for category, outcome in actual.items():
            before = as_given[category].action
            if outcome.action.severity > before.severity:
                channel = changed[0]
                reasons.append(Reason(
                    code="obfuscation",
                    action=outcome.action,
                    category=category,
                    channel=channel,
                    message=f"{category.value}: the normalised text ({', '.join(channels[channel].transforms)})"
                            f" scored {outcome.probability:.3f} -> {outcome.action.value}; as written it scored"
                            f" {as_given[category].probability:.3f} -> {before.value}",
                ))
        return reasons

    def _verdict(self, index: int, item: ModerationInput, runs: dict[Channel, dict[int, _ChannelRun]],
                 policy: Policy, elapsed_ms: float) -> ModerationResult:
        channels = {channel: self._channel_result(channel, runs[channel].get(index)) for channel in Channel}
        categories, reasons = policy.judge(merge(channels, self.combiner))
        for channel, result in channels.items():
            if result.status.failed:
                reasons.append(Reason(
                    code="channel_failed",
                    action=policy.failure_action,
                    channel=channel,
                    message=f"{channel.value} channel {result.status.value}: {result.error.message if result.error else ''}"
                            f" -> {policy.failure_action.value} (fail closed)",
                ))
        reasons.extend(self._normalisation_reasons(channels, policy))
        action = Action.most_severe([r.action for r in reasons])
        image = item.image
        return ModerationResult(
            id=f"modr-{uuid.uuid4().hex}",
            flagged=action is not Action.ALLOW,
            action=action,
            categories=categories,
            channels=channels,
            reasons=reasons,
            policy=PolicyRef(name=policy.name, version=policy.version),
            model_bundle=self.bundle_ref,
            input=InputSummary(
                text_chars=None if item.text is None else len(item.text),
                text_sha256=item.text_sha256,
                image=None if image is None else ImageSummary(format=image.format, width=image.width,
                                                             height=image.height, frames=image.n_frames,
                                                             sha256=image.sha256),
            ),
            latency_ms=round(elapsed_ms, 3),
        )


def _unnormalized_view(channels: Mapping[Channel, ChannelResult]) -> dict[Channel, ChannelResult]:
    return {c: r.model_copy(update={"scores": r.unnormalized_scores}) if r.unnormalized_scores is not None else r
            for c, r in channels.items()}


def _policy_digest(policy: Policy) -> str:
    """Two policies with the same thresholds judge alike, whatever their names."""
    return hashlib.sha256(policy.model_dump_json().encode()).hexdigest()
