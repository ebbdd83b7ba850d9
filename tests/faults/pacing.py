"""A steady load: inputs sent in one-second slices, as senders that retry would deliver them."""

from __future__ import annotations

import time

from tests.cluster_inputs import Input, Sender


def send_steadily(sender: Sender, inputs: list[Input], seconds: float) -> None:
    """Send in one-second slices spread over `seconds`; a slice held up by an outage is
    followed by the ones due meanwhile, at once, as retrying senders catch up."""
    per_slice = max(1, round(len(inputs) / seconds))
    started = time.monotonic()
    for tick, first in enumerate(range(0, len(inputs), per_slice)):
        sender.send(inputs[first : first + per_slice])
        time.sleep(max(0.0, started + tick + 1 - time.monotonic()))
