"""The Lua scripts of the Redis store: each keeps spend + held ≤ budget atomically.

Time comes from Redis (``TIME``), not from the callers, so processes with skewed clocks
agree on when a hold expires. Amounts are integers in micros; Lua numbers are doubles,
exact up to 2^53 micros (9 billion currency units), far beyond any daily budget.
"""

from typing import Final

_PURGE_FUNCTION: Final = """
local function purge(held_key, holds_key, expiries_key, now)
  local expired = redis.call('ZRANGEBYSCORE', expiries_key, '-inf', now, 'LIMIT', 0, 200)
  if #expired > 0 then
    local amounts = redis.call('HMGET', holds_key, unpack(expired))
    local total = 0
    for _, a in ipairs(amounts) do
      if a then total = total + tonumber(a) end
    end
    redis.call('HDEL', holds_key, unpack(expired))
    redis.call('ZREM', expiries_key, unpack(expired))
    if total > 0 then redis.call('DECRBY', held_key, total) end
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
"""Shared prologue: ``now`` in ms, and ``purge`` releasing an account's expired holds (at
most 200 a call)."""

_NOW_AND_PURGE: Final = _PURGE_FUNCTION + "purge(KEYS[2], KEYS[3], KEYS[4], now)\n"
"""For one account whose keys are KEYS[1..4]: ``now``, and its expired holds released."""

RESERVE: Final = (
    _PURGE_FUNCTION
    + """
local holds = cjson.decode(ARGV[1])
local key_ttl = ARGV[2]
local placed = {}
local purged = {}
for i, hold in ipairs(holds) do
  local k = (i - 1) * 4
  local spend_key, held_key = KEYS[k + 1], KEYS[k + 2]
  local holds_key, expiries_key = KEYS[k + 3], KEYS[k + 4]
  if not purged[expiries_key] then
    purge(held_key, holds_key, expiries_key, now)
    purged[expiries_key] = true
  end
  local id, amount = hold[1], hold[2]
  local spend = tonumber(redis.call('GET', spend_key) or '0')
  local held = tonumber(redis.call('GET', held_key) or '0')
  placed[i] = 0
  if spend + held + amount <= hold[3] and redis.call('HSETNX', holds_key, id, amount) == 1 then
    redis.call('ZADD', expiries_key, now + hold[4], id)
    redis.call('INCRBY', held_key, amount)
    redis.call('EXPIRE', held_key, key_ttl)
    redis.call('EXPIRE', holds_key, key_ttl)
    redis.call('EXPIRE', expiries_key, key_ttl)
    placed[i] = 1
  end
end
return placed
"""
)
"""Every hold of one request in one call (one round trip, one packed argument: redis-py
spends microseconds per argument it packs). KEYS: spend, held, holds, expiries of each hold
in turn. ARGV: JSON array of [hold id, amount, budget, hold TTL ms]; key TTL s. Returns 1/0
per hold. Each hold is decided in order against what the ones before it held."""

RELEASE: Final = """
local ids = cjson.decode(ARGV[1])
for i, id in ipairs(ids) do
  local k = (i - 1) * 3
  local a = redis.call('HGET', KEYS[k + 2], id)
  if a then
    redis.call('HDEL', KEYS[k + 2], id)
    redis.call('ZREM', KEYS[k + 3], id)
    redis.call('DECRBY', KEYS[k + 1], a)
  end
end
return #ids
"""
"""KEYS: held, holds, expiries of each hold in turn. ARGV: JSON array of hold ids."""

SETTLE: Final = (
    _NOW_AND_PURGE
    + """
local a = redis.call('HGET', KEYS[3], ARGV[1])
if a then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('DECRBY', KEYS[2], a)
end
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
local cost = tonumber(ARGV[2])
local spend = tonumber(redis.call('GET', KEYS[1]) or '0')
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
local result = 1
if not a then result = 2 end
if spend + held + cost > tonumber(ARGV[3]) then
  result = 3
else
  redis.call('INCRBY', KEYS[1], cost)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
redis.call('SET', KEYS[5], result, 'EX', ARGV[4])
return result
"""
)
"""KEYS: spend, held, holds, expiries, charge marker. ARGV: hold id, cost, budget, marker
TTL s, key TTL s. Returns a Settlement value. The hold is removed first either way, so a
settled impression never leaves money held; a marker makes any repeat a DUPLICATE."""
