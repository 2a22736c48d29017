"""The physical machine: memory in frames on DIMMs, x86-64 page tables, vCPUs."""
