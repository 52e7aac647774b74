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

LEDGER_LOST: Final = -1
"""What a money script answers when a campaign's ledger marker is not the expected epoch."""

RESERVE: Final = (
    _PURGE_FUNCTION
    + """
local holds = cjson.decode(ARGV[1])
local key_ttl = ARGV[2]
local epoch = ARGV[3]
local checked = {}
for i = 1, #holds do
  local marker = KEYS[(i - 1) * 5 + 5]
  if not checked[marker] then
    if redis.call('GET', marker) ~= epoch then return -1 end
    checked[marker] = true
  end
end
local placed = {}
local purged = {}
for i, hold in ipairs(holds) do
  local k = (i - 1) * 5
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
"""Every hold of one request (on one shard) in one call: one round trip, one packed
argument (redis-py spends microseconds per argument it packs). KEYS: spend, held, holds,
expiries, ledger marker of each hold in turn. ARGV: JSON array of [hold id, amount, budget,
hold TTL ms]; key TTL s; the ledger epoch. Returns 1/0 per hold, each decided in order
against what the ones before it held — or -1, changing nothing, when any campaign's marker
is not the epoch."""

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
"""KEYS: held, holds, expiries of each hold in turn. ARGV: JSON array of hold ids. (No
ledger check: giving money back can never overspend, and on a lost store there is nothing
to give back.)"""

CHARGE: Final = (
    _PURGE_FUNCTION
    + """
if redis.call('GET', KEYS[5]) ~= ARGV[6] then return {-1, 0, 0} end
purge(KEYS[2], KEYS[3], KEYS[4], now)
local a = redis.call('HGET', KEYS[3], ARGV[1])
if a then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('DECRBY', KEYS[2], a)
end
local first = 0
if redis.call('SET', KEYS[7], '1', 'NX', 'EX', ARGV[4]) then first = 1 end
if redis.call('EXISTS', KEYS[6]) == 1 then return {0, 0, first} end
local cost = tonumber(ARGV[2])
local spend = tonumber(redis.call('GET', KEYS[1]) or '0')
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
local result, charged = 1, cost
if not a then result = 2 end
if spend + held + cost > tonumber(ARGV[3]) then
  result, charged = 3, 0
else
  redis.call('INCRBY', KEYS[1], cost)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
redis.call('SET', KEYS[6], result .. ':' .. charged, 'EX', ARGV[4])
for i = 8, #KEYS do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[i - 1], 'NX')
end
return {result, charged, first}
"""
)
"""Settle one notice of a won impression in one step. KEYS: spend, held, holds, expiries,
ledger marker, charge marker, notice marker, then the frequency-cap counters. ARGV: hold
id, cost, budget, marker TTL s, key TTL s, ledger epoch, then each cap counter's TTL s.
Returns {settlement, micros charged by this call, 1 if first notice of its kind}; {-1, 0, 0}
and no change when the marker is not the epoch. The hold is removed first either way, so a
settled impression never leaves money held; the charge marker (value ``result:micros``)
makes any repeat a DUPLICATE; caps count when the charge marker is first set."""

RESTORE_CHARGE: Final = """
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[2]) then
  redis.call('INCRBY', KEYS[1], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0
"""
"""Re-apply one charge from the event log (``rtb ledger restore``), once: KEYS spend, charge
marker; ARGV cost, marker TTL s, marker value, key TTL s. 1 if applied, 0 if it already was."""

CLAIM_COUNTED: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[1]) then return -1 end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[2])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2], 'NX')
return 1
"""
"""A claim within a count (a click's conversions): KEYS the claim, the counter (one hash
tag); ARGV limit, TTL s. 1 claimed, 0 claimed before, -1 limit reached."""

CLAIM_LOWER: Final = """
local held = redis.call('GET', KEYS[1])
if held and tonumber(held) <= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
"""A rank that only a strictly lower one replaces (an impression's shortest path): KEYS the
key; ARGV rank, TTL ms. 1 set, 0 a rank no higher is held."""

PROFILE_WRITE: Final = """
local key = KEYS[1]
local day, keep, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = tonumber(ARGV[5])
if redis.call('HGET', key, 'p') ~= ARGV[1] then
  local oldest = day - keep + 1
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local field, value = all[i], all[i + 1]
    local drop = field ~= 'p'
    if string.sub(field, 1, 2) == 'e:' then
      local d = string.match(field, '^e:(%d+):')
      drop = d == nil or tonumber(d) < oldest
    elseif string.sub(field, 1, 2) == 's:' then
      drop = string.match(value, '^%d+$') == nil or tonumber(value) <= now
    end
    if drop then redis.call('HDEL', key, field) end
  end
  redis.call('HSET', key, 'p', ARGV[1])
end
local size = redis.call('HLEN', key)
local function change(field, value, add)
  if redis.call('HEXISTS', key, field) == 0 then
    if size >= limit then return end
    size = size + 1
  end
  if add then
    redis.call('HINCRBY', key, field, value)
  else
    redis.call('HSET', key, field, value)
  end
end
local n_incr, n_set, n_del = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local i = 9
for _ = 1, n_del do
  size = size - redis.call('HDEL', key, ARGV[i])
  i = i + 1
end
for n = 1, n_incr + n_set do
  change(ARGV[i], ARGV[i + 1], n <= n_incr)
  i = i + 2
end
redis.call('EXPIRE', key, ARGV[4])
return size
"""
"""One ``budget.profile_write.ProfileWrite`` (its rules are documented there). KEYS: the
profile. ARGV: day, keep days, max fields, TTL s, now s, then how many increments, sets
and deletes, then the deletes' fields, the increments' (field, amount) and the sets'
(field, text) pairs. Returns the record's size."""
