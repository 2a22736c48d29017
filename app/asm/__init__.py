"""GNU-as (AT&T) assembly front end: parse, lay out, encode in an isolated worker."""

from app.asm.errors import AsmError
from app.asm.layout import Image, assemble
from app.asm.parser import parse

__all__ = ["AsmError", "Image", "assemble", "parse"]
