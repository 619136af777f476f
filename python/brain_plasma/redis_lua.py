"""The Lua scripts of the Redis Brain (redis_brain.py).

Each runs atomically in Redis: no other client sees a state between two of
its commands, and a client killed while sending one leaves nothing (Redis
runs a script only once the whole command has arrived).

Key layout (PREFIX defaults to ``brain:``; NS is the namespace with ``%``,
``{`` and ``}`` percent-escaped, so the first ``}`` ends it):

    PREFIX{NS}:m:NAME     hash: the value's metadata, and the value itself
                          when it is small (field d)
    PREFIX{NS}:d:OID:I    string: chunk I of a large value (OID: 40 hex
                          digits, new for every value)
    PREFIX{NS}:names      set: the names of the namespace (expired ones are
                          dropped lazily)
    PREFIX{NS}:seq        counter: the namespace's last version
    PREFIX{NS}:chg:NAME   pub/sub channel: the new version after each change
    PREFIXnamespaces      set: the namespaces that were ever written
    PREFIXepoch           string: random, set by the first write after
                          Redis was emptied (revalidate=push watches it)

Metadata fields: v version, t type tag, n size in bytes, o object id (hex),
c chunk count (0: the value is field d), k chunk size, cr/up created and
updated (Unix seconds), x expiry (Unix ms, absent: none), s description.
"""

# Shared helpers, prepended to the scripts that need them.
_COMMON = r"""
local function esc(ns)
  return (ns:gsub('%%', '%%25'):gsub('{', '%%7B'):gsub('}', '%%7D'))
end
local function drop_chunks(base, oid, c)
  c = tonumber(c) or 0
  for j = 0, c - 1 do
    redis.call('UNLINK', base .. ':d:' .. oid .. ':' .. j)
  end
end
-- forgets NAME of the namespace at BASE; 1 when it held a value
local function forget(base, name)
  local mk = base .. ':m:' .. name
  local old = redis.call('HMGET', mk, 'o', 'c')
  redis.call('SREM', base .. ':names', name)
  if not old[1] then
    return 0
  end
  drop_chunks(base, old[1], old[2])
  redis.call('DEL', mk)
  redis.call('PUBLISH', base .. ':chg:' .. name, '0')
  return 1
end
"""

# KEYS[1]: PREFIX{NS}:names of the (first) namespace, which routes the
# call in a Redis Cluster.
# ARGV: prefix, replace_all ('1': forget every name of every namespace
# first, for load), now (Unix seconds, text), now_ms, count, epoch (a new
# random text: PREFIXepoch takes it when missing), cluster ('1': touch no
# key outside the namespaces of the items: no PREFIXepoch, no
# PREFIXnamespaces, no replace_all; the caller does what it can), then per
# item
# ns, name, if_version ('' none), type, size, oid, desc ('' none), ttl_ms,
# chunks, chunk_size, data ('' when chunked).
# Returns {1, v1, v2, ...} or {0, index, current version} on a conflict
# (then nothing was written).
COMMIT = _COMMON + r"""
local prefix, replace_all, now, now_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local F = 11
local cluster = ARGV[7] == '1'
if not cluster then
  redis.call('SET', prefix .. 'epoch', ARGV[6], 'NX')
end
for i = 0, n - 1 do
  local b = 7 + i * F
  local ifv = ARGV[b + 3]
  if ifv ~= '' then
    local base = prefix .. '{' .. esc(ARGV[b + 1]) .. '}'
    local cur = redis.call('HGET', base .. ':m:' .. ARGV[b + 2], 'v')
    cur = cur and tonumber(cur) or 0
    if cur ~= tonumber(ifv) then
      return {0, i, cur}
    end
  end
end
if replace_all == '1' and not cluster then
  for _, ns in ipairs(redis.call('SMEMBERS', prefix .. 'namespaces')) do
    local base = prefix .. '{' .. esc(ns) .. '}'
    for _, name in ipairs(redis.call('SMEMBERS', base .. ':names')) do
      forget(base, name)
    end
  end
end
local out = {1}
for i = 0, n - 1 do
  local b = 7 + i * F
  local ns, name = ARGV[b + 1], ARGV[b + 2]
  local base = prefix .. '{' .. esc(ns) .. '}'
  local mk = base .. ':m:' .. name
  local old = redis.call('HMGET', mk, 'o', 'c', 'cr')
  if old[1] then
    drop_chunks(base, old[1], old[2])
  end
  local v = redis.call('INCR', base .. ':seq')
  local oid, ttl, c = ARGV[b + 6], tonumber(ARGV[b + 8]), tonumber(ARGV[b + 9])
  redis.call('DEL', mk)
  local f = {'v', v, 't', ARGV[b + 4], 'n', ARGV[b + 5], 'o', oid,
             'cr', old[3] or now, 'up', now, 'c', c, 'k', ARGV[b + 10]}
  if ARGV[b + 7] ~= '' then
    f[#f + 1] = 's'; f[#f + 1] = ARGV[b + 7]
  end
  if c == 0 then
    f[#f + 1] = 'd'; f[#f + 1] = ARGV[b + 11]
  end
  if ttl > 0 then
    f[#f + 1] = 'x'; f[#f + 1] = string.format('%d', now_ms + ttl)
  end
  redis.call('HSET', mk, unpack(f))
  for j = 0, c - 1 do
    local ck = base .. ':d:' .. oid .. ':' .. j
    if redis.call('EXISTS', ck) == 0 then
      return redis.error_reply('BRAINCHUNK chunk ' .. j .. ' of ' .. name .. ' is missing')
    end
    if ttl > 0 then
      -- chunks outlive their metadata a little: a reader that saw the
      -- metadata just before it expired can still read them
      redis.call('PEXPIRE', ck, ttl + 60000)
    else
      redis.call('PERSIST', ck)
    end
  end
  if ttl > 0 then
    redis.call('PEXPIRE', mk, ttl)
  end
  redis.call('SADD', base .. ':names', name)
  if not cluster then
    redis.call('SADD', prefix .. 'namespaces', ns)
  end
  redis.call('PUBLISH', base .. ':chg:' .. name, v)
  out[#out + 1] = v
end
return out
"""

# KEYS[1]: BASE:names (routing).  ARGV: base, name.  Returns 1 when NAME
# held a value.
FORGET = _COMMON + r"""
return forget(ARGV[1], ARGV[2])
"""

# KEYS[1]: BASE:names.  ARGV: base.  Forgets every name of the namespace;
# returns how many held a value.
CLEAR = _COMMON + r"""
local k = 0
for _, name in ipairs(redis.call('SMEMBERS', ARGV[1] .. ':names')) do
  k = k + forget(ARGV[1], name)
end
return k
"""

# KEYS[1]: BASE:names.  ARGV: base.  The names of the namespace that hold a
# value; drops the expired ones from the set.
NAMES = r"""
local out = {}
local base = ARGV[1]
for _, name in ipairs(redis.call('SMEMBERS', base .. ':names')) do
  if redis.call('EXISTS', base .. ':m:' .. name) == 1 then
    out[#out + 1] = name
  else
    redis.call('SREM', base .. ':names', name)
  end
end
return out
"""
