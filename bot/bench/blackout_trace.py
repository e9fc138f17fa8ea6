"""The ``blackout`` trace: a seeded, timed list of what residents, platforms and officials do.

At ``scale=1`` (``plaza bench blackout``): 5,000 resident messages in 120 s,
ramping up (arrivals grow with the square of time, ending near 125/s); 70 %
of residents on Telegram, 20 % on Mastodon, 10 % on X; a quarter of them send
follow-ups a few seconds apart (the next lines of :data:`SCRIPT`, whose
replies depend on the order); 5 % of webhook deliveries repeated at once and
1 % redelivered late; 0.5 % extra requests malformed or badly signed; at 30 s
a broadcast to 20,000 Telegram, 2,000 Mastodon and 500 X subscribers; 50
conversations taken over by officials mid-burst; one worker killed at 60 s.

``scale`` multiplies every count and every time (the rate stays the same):
``scale=0.1`` is the test's 10 % version, 500 messages in 12 s. The same
``seed`` gives the same trace.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["SCRIPT", "Message", "Takeover", "Trace", "blackout_trace"]

SCRIPT = ("hola", "1", "alumbrado", "La farola de la plaza está apagada", "omitir", "Calle Real 5", "cancelar")
"""What a resident says, line after line: each answer only makes sense after the one before."""

CHANNELS = (("telegram", 0.70), ("mastodon", 0.20), ("x", 0.10))
MALFORMED = ("bad-secret", "bad-json", "bad-signature")


@dataclass(frozen=True, slots=True)
class Message:
    """One resident message: the ``number``-th line of :data:`SCRIPT` from ``resident`` at ``at`` seconds.

    ``repeats`` are the extra deliveries of the same webhook (seconds after
    ``at``): a duplicate comes at once, a late redelivery tens of seconds later.
    """

    at: float
    channel: str
    resident: int
    number: int
    repeats: tuple[float, ...] = ()

    @property
    def text(self) -> str:
        return SCRIPT[self.number]

    @property
    def key(self) -> str:
        """The message's id in the trace (the platform's message id is derived from it)."""
        return f"{self.channel}-{self.resident}-{self.number}"


@dataclass(frozen=True, slots=True)
class Takeover:
    """An official takes over ``resident``'s conversation at ``at`` seconds."""

    at: float
    channel: str
    resident: int


@dataclass(frozen=True, slots=True)
class Trace:
    duration: float
    messages: tuple[Message, ...]
    malformed: tuple[tuple[float, str, str], ...]
    """``(at, channel, kind)``: requests the server must refuse (kind in :data:`MALFORMED`)."""
    takeovers: tuple[Takeover, ...]
    broadcast_at: float
    subscribers: dict[str, int] = field(default_factory=dict)
    """Broadcast recipients per channel."""
    kill_at: float = 0.0

    def residents(self, channel: str) -> list[int]:
        return sorted({m.resident for m in self.messages if m.channel == channel})

    def deliveries(self) -> int:
        """Webhook POSTs of valid messages, repeats included (Mastodon is read by polling: no repeats)."""
        return sum(1 + len(m.repeats) for m in self.messages if m.channel != "mastodon")


def _arrival(rng: random.Random, duration: float) -> float:
    """A time in [0, duration) with density growing as t²: the burst ramps up to its end."""
    return float(duration * rng.random() ** (1 / 3))


def _channel(rng: random.Random) -> str:
    draw, total = rng.random(), 0.0
    for name, share in CHANNELS:
        total += share
        if draw < total:
            return name
    return CHANNELS[-1][0]


def blackout_trace(*, scale: float = 1.0, seed: int = 7) -> Trace:
    """The trace at ``scale`` (1 = the full bench, 0.1 = the test's version)."""
    rng = random.Random(seed)
    duration = 120.0 * scale
    target = round(5000 * scale)
    gap = (1.0 * max(scale, 0.25), 4.0 * max(scale, 0.25))  # follow-ups "seconds apart", shorter when scaled down
    messages: list[Message] = []
    resident = 0
    while len(messages) < target:
        resident += 1
        channel = _channel(rng)
        at = _arrival(rng, duration)
        lines = 1 + (rng.randint(1, len(SCRIPT) - 1) if rng.random() < 0.25 else 0)
        lines = min(lines, target - len(messages))
        for number in range(lines):
            repeats: tuple[float, ...] = ()
            if channel != "mastodon":
                draw = rng.random()
                if draw < 0.05:
                    repeats = (rng.uniform(0.05, 0.5),)
                elif draw < 0.06:
                    repeats = (rng.uniform(10.0, 40.0) * max(scale, 0.25),)
            messages.append(Message(at, channel, resident, number, repeats))
            at += rng.uniform(*gap)
    messages.sort(key=lambda m: (m.at, m.resident, m.number))
    malformed = tuple(
        sorted(
            (_arrival(rng, duration), "telegram" if kind in ("bad-secret", "bad-json") else "x", kind)
            for kind in (rng.choice(MALFORMED) for _ in range(max(1, round(target * 0.005))))
        )
    )
    # residents with follow-ups still to come after the takeover: the bot must stay silent for those
    candidates = sorted(
        {(m.channel, m.resident) for m in messages if m.number == 1 and m.at < duration * 0.8 and m.at > duration / 4}
    )
    chosen = rng.sample(candidates, min(len(candidates), max(1, round(50 * scale))))
    takeovers = []
    for channel, who in chosen:
        own = [m.at for m in messages if m.channel == channel and m.resident == who]
        takeovers.append(Takeover(own[1] + (own[2] - own[1]) / 2 if len(own) > 2 else own[1] + 0.5, channel, who))
    return Trace(
        duration=duration,
        messages=tuple(messages),
        malformed=malformed,
        takeovers=tuple(sorted(takeovers, key=lambda t: t.at)),
        broadcast_at=30.0 * scale,
        subscribers={
            "telegram": round(20_000 * scale),
            "mastodon": round(2_000 * scale),
            "x": round(500 * scale),
        },
        kill_at=60.0 * scale,
    )
