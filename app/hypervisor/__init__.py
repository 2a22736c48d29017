"""The mirroring hypervisor: VMs, hypercalls, mirror PTEs, fault injection, recovery."""

from app.hypervisor.answers import Answer
from app.hypervisor.core import Hypervisor
from app.hypervisor.vm import VM

__all__ = ["VM", "Answer", "Hypervisor"]
