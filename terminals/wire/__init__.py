"""The terminal wire: the POS protocol codec (``../shared/POS-PROTOCOL.md``, version 1) and a
client that speaks it.

    messages.py  constants, MsgType, Nack, ProtocolError, every body and its encode/decode
    frames.py    frame layout, CRC, MAC, verification order, the serial StreamDecoder
    client.py    VirtualTerminal: a terminal written from the contract (simulator, benches, tests)

Together ``messages`` and ``frames`` are the codec: no Django, standard library only, so the
gateways, the simulator, the test client and the fuzzers share it and it can be fuzzed alone.
Callers import the package, whose namespace is the whole codec::

    from terminals import wire as P
    frame = P.encode_frame(P.MsgType.HEARTBEAT, terminal_id, msg_seq, P.Heartbeat(...).encode(), key)

Where frames go next: frame in → ``terminals.gateways`` (TCP or serial transport → the one frame
handler) → ``terminals.host`` / ``terminals.ingest.intake`` → ``ingest.posting`` → ACK.
"""

from . import frames, messages
from .frames import *  # noqa: F403
from .messages import *  # noqa: F403

__all__ = [*messages.__all__, *frames.__all__]
