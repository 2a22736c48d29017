"""What the server and the zygote say to each other (processes.py, zygote.py): a
request is the new engine's priority, sent with one end of a socket pair; the answer
is its process id."""

import struct

REQUEST = struct.Struct("i")    # the new engine's nice value for long work
ANSWER = struct.Struct("i")     # its process id (-1: the fork failed)
