"""What the hypervisor answers the loop that drives a vCPU, after it served a stop."""

from __future__ import annotations

from enum import StrEnum


class Answer(StrEnum):
    OK = "ok"                    # the instruction retired: go on
    RETRY = "retry"              # run the instruction again (its frame is back, or rebuilt)
    PASSTHROUGH = "passthrough"  # run it once with its frame mapped as it is (an error
    #                              is pending there, but not in what it touches)
    FAULT = "fault"              # the guest faults
    KILLED = "killed"            # the VM was killed
