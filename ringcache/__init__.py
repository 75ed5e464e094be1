"""ringcache: a distributed cache that speaks the Redis protocol."""

__version__ = "0.1.0"
# The Redis version we follow for behaviour and report to clients (redis-py
# and others gate features on it).
REDIS_VERSION = "7.4.0"
