"""GNU-as (AT&T) assembly front end: parse, lay out, encode in an isolated worker."""

from app.asm.encoder import ENCODER
from app.asm.errors import AsmError
from app.asm.layout import Image, assemble
from app.asm.parser import parse


def stop_worker() -> None:
    """End the encoder's worker process until the next encoding needs it."""
    ENCODER.stop()


__all__ = ["AsmError", "Image", "assemble", "parse", "stop_worker"]
