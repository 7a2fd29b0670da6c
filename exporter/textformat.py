"""Writing samples as prometheus_client's text and OpenMetrics encoders do, byte for byte.

`collector.MailboxExposition` writes most of /metrics itself (see there for why); these are the
pieces it needs to come out identical to the library: value formatting, label escaping, which
format an encoder writes, and the `# HELP`/`# TYPE` lines, which the encoder itself writes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable

from prometheus_client import CollectorRegistry
from prometheus_client import exposition as text_format
from prometheus_client.openmetrics import exposition as openmetrics_format
from prometheus_client.utils import floatToGoString

from .families import ALL_FAMILIES, FamilySpec, FixedFamilies

Encoder = Callable[[CollectorRegistry], bytes]

EOF = b"# EOF\n"  # OpenMetrics' last line; written once, after the last family

# prometheus_client's value formatting (Go's), declared here since the library has no hints.
_float_to_go_string: Callable[[float], str] = floatToGoString

# Escapings under which prometheus_client leaves our (legacy-valid) names unchanged.
_PLAIN_NAME_ESCAPINGS = (openmetrics_format.UNDERSCORES, openmetrics_format.ALLOWUTF8)


def go_float(value: float) -> str:
    """floatToGoString's result; its common case (repr with at most six digits before the dot,
    so no exponent to rewrite) done inline, the rest (inf, nan, exponents) left to it."""
    text = repr(float(value))
    dot = text.find(".")
    if dot > 0 and (dot <= 6 or value <= 0) and "e" not in text:
        return text
    return _float_to_go_string(value)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class Escapes(dict[str, str]):
    """Label values escaped as both text formats escape them, remembered for one render.

    Label values repeat (phases, results, capabilities) and lookups of a dict are as fast as
    a call of a cached function; one per render, so no thread ever writes a shared cache.
    """

    def __missing__(self, value: str) -> str:
        escaped = self[value] = _escape(value)
        return escaped


def sample_line(spec: FamilySpec, values: tuple[str, ...], value: float, escapes: Escapes) -> str:
    """One sample line, as prometheus_client's text and OpenMetrics encoders write it."""
    return spec.line_template.format(*map(escapes.__getitem__, values), value=go_float(value))


def is_openmetrics(encoder: Encoder) -> bool | None:
    """Whether the encoder writes OpenMetrics (else the 0.0.4 text format), or None when it is
    a format or escaping we don't write ourselves.

    `choose_encoder` hands out the text encoder itself or a `functools.partial` of either
    encoder with the escaping (and OpenMetrics version) the scraper asked for.
    """
    func, keywords = encoder, {}
    if isinstance(encoder, functools.partial):
        func, keywords = encoder.func, dict(encoder.keywords)
    if keywords.get("escaping", openmetrics_format.UNDERSCORES) not in _PLAIN_NAME_ESCAPINGS:
        return None
    if func is text_format.generate_latest:
        return False
    if func is openmetrics_format.generate_latest:
        return True
    return None


def encoder_key(encoder: Encoder) -> Hashable:
    """What makes two encoders write alike: `choose_encoder` makes a new partial per request,
    so its identity says nothing, while its function and keywords do."""
    if isinstance(encoder, functools.partial):
        return (encoder.func, tuple(sorted(encoder.keywords.items())))
    return encoder


def family_headers(encoder: Encoder, openmetrics: bool) -> tuple[bytes, ...]:
    """`# HELP`/`# TYPE` lines of each of `ALL_FAMILIES`, written by the encoder itself."""
    headers = []
    for spec in ALL_FAMILIES:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(FixedFamilies([spec.family()]))
        text = encoder(registry)
        headers.append(text.removesuffix(EOF) if openmetrics else text)
    return tuple(headers)
