"""Socket.IO frames, decoded so that every command frame gets an answer.

A command frame whose data is not JSON we accept (a huge integer, NaN, nesting too
deep, not JSON at all) or that names an event the library reserves (a client sending
`disconnect` would otherwise detach its own tab) becomes the event `malformed`, whose
handler answers the frame's acknowledgement with what was wrong. Other frames are left
to the library.
"""

from __future__ import annotations

import json

import orjson
from socketio import packet

MALFORMED = "malformed"
RESERVED = {"connect", "disconnect", "connect_error", MALFORMED}
_EVENTS = (packet.EVENT, packet.BINARY_EVENT)


class StrictJSON:
    """The json module Socket.IO uses: fast (orjson: a snapshot sent to a classroom
    is encoded once, but on the thread every connection shares), strict on input (no
    NaN, no integer beyond 64 bits, nesting bounded)."""

    @staticmethod
    def dumps(data, *_args, **_kwargs) -> str:
        try:
            return orjson.dumps(data).decode()
        except TypeError:  # an integer beyond 64 bits, say: the standard encoder copes
            return json.dumps(data, separators=(",", ":"))

    @staticmethod
    def loads(text, *_args, **_kwargs):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise ValueError(str(e)) from None


class Frame(packet.Packet):
    json = StrictJSON
    # nothing here is ever binary: not looking for bytes in every payload saves
    # walking a whole snapshot (thousands of lists) each time one is sent
    uses_binary_events = False

    def decode(self, encoded_packet):
        try:
            attachments = super().decode(encoded_packet)
        except RecursionError:
            return self._refuse("its data is nested too deeply")
        except ValueError as e:  # JSONDecodeError is one
            return self._refuse(f"its data is not valid JSON ({str(e)[:80]})")
        if attachments:
            # nothing here takes binary data, and the library would buffer every frame
            # after this one as its attachments, answering none: refused at once
            self.packet_type = packet.EVENT if self.packet_type in _EVENTS else self.packet_type
            return self._refuse("binary attachments are not accepted")
        if self.packet_type in _EVENTS:
            head = self.data[0] if isinstance(self.data, list) and self.data else None
            if not isinstance(head, str):
                return self._refuse("it does not start with an event name")
            if head in RESERVED:
                return self._refuse(f"'{head[:40]}' is not a command a client may send")
        return attachments

    def _refuse(self, why: str) -> int:
        if self.packet_type not in _EVENTS:
            raise ValueError(why)  # not a command: nothing to answer
        self.packet_type, self.data = packet.EVENT, [MALFORMED, why]
        return 0
