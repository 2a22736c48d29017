"""kMemvisor Lab: software memory mirroring in a hypervisor, made visible."""
