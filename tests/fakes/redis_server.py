"""A real redis-server process on a free 127.0.0.1 port that tests can stop, kill and restart.

The process management lives in demo/processes.py, shared with `make demo`.
"""

from demo.processes import RedisProcess as RedisServer
from demo.processes import redis_binary

__all__ = ["RedisServer", "redis_binary"]
