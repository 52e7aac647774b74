"""The Lua scripts of the Redis store: each keeps spend + held ≤ budget atomically.

Time comes from Redis (``TIME``), not from the callers, so processes with skewed clocks
agree on when a hold expires. Amounts are integers in micros; Lua numbers are doubles,
exact up to 2^53 micros (9 billion currency units), far beyond any daily budget.
"""

from typing import Final

_NOW_AND_PURGE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 200)
if #expired > 0 then
  local amounts = redis.call('HMGET', KEYS[3], unpack(expired))
  local total = 0
  for _, a in ipairs(amounts) do
    if a then total = total + tonumber(a) end
  end
  redis.call('HDEL', KEYS[3], unpack(expired))
  redis.call('ZREM', KEYS[4], unpack(expired))
  if total > 0 then redis.call('DECRBY', KEYS[2], total) end
end
"""
"""Shared prologue: ``now`` in ms, and expired holds (at most 200 a call) released."""

RESERVE: Final = (
    _NOW_AND_PURGE
    + """
local amount = tonumber(ARGV[2])
local spend = tonumber(redis.call('GET', KEYS[1]) or '0')
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if spend + held + amount > tonumber(ARGV[3]) then return 0 end
if redis.call('HSETNX', KEYS[3], ARGV[1], amount) == 0 then return 0 end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[4]), ARGV[1])
redis.call('INCRBY', KEYS[2], amount)
for i = 2, 4 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return 1
"""
)
"""KEYS: spend, held, holds, expiries. ARGV: hold id, amount, budget, hold TTL ms, key TTL s."""

RELEASE: Final = """
local a = redis.call('HGET', KEYS[2], ARGV[1])
if not a then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DECRBY', KEYS[1], a)
return 1
"""
"""KEYS: held, holds, expiries. ARGV: hold id."""

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
