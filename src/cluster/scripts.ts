// The cluster's Lua scripts: every change of a session's owner, state or missed-packet list is one atomic
// script in Redis, so that two edges never both believe they hold a session.
//
// Keys (prefix P): P:cluster (hash: publicKey), P:ids (the id counter), P:members (zset: member -> expiry ms),
// P:s:<id> (hash: owner, epoch, key, state, staleSince), P:m:<id> (list: missed packets, oldest first),
// P:owned:<member> (set: the ids a member holds). Channel P:edge:<member> carries messages to one edge:
// M<id> (moved away), R<id>:<requester> (release request), D<id> (released), F<id>:<bytes> (forwarded
// master data), K<id> (forwarded kick).

/** Redis TIME as milliseconds. */
const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Atomically takes `count` ids: the counter never goes below `floor` (the highest id this edge ever handed out,
 * so a Redis that lost its data cannot hand out that edge's ids again). KEYS: ids. ARGV: count, floor.
 * Returns the last id of the block.
 */
export const ALLOC_IDS = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[2])
if cur < floor then redis.call('SET', KEYS[1], floor) end
return redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))`;

/**
 * Joins: the cluster's public key is set by the first edge; a different key is refused. Renews membership and
 * sets this member's marker (gone only if Redis loses its data). KEYS: cluster, members, marker.
 * ARGV: publicKeyHex, member, timeoutMs. Returns {'ok'} or {'key', clusterKeyHex}.
 */
export const JOIN = `
${NOW}
local existing = redis.call('HGET', KEYS[1], 'publicKey')
if existing and existing ~= ARGV[1] then return {'key', existing} end
if not existing then redis.call('HSET', KEYS[1], 'publicKey', ARGV[1]) end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
redis.call('SET', KEYS[3], '1')
return {'ok'}`;

/**
 * Renews membership and lists dead members (expired). KEYS: marker, members. ARGV: member, timeoutMs.
 * Returns {alive (0/1: this member's marker still exists, i.e. Redis kept its data), members..., '', dead...}.
 */
export const HEARTBEAT = `
${NOW}
-- Data lost for this member when the cluster info or this member's own entry is gone (another member that
-- rejoined first may already have written the info again).
local known = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
local alive = redis.call('EXISTS', KEYS[1])
if not known then alive = 0 end
local out = {alive}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf')) do out[#out + 1] = m end
out[#out + 1] = ''
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)) do out[#out + 1] = m end
return out`;

/**
 * A new session's record. KEYS: s, owned. ARGV: member, keyBytes, id.
 */
export const CREATE = `
${NOW}
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', 1, 'key', ARGV[2], 'state', 'live', 'created', now)
redis.call('SADD', KEYS[2], ARGV[3])
return 1`;

/**
 * The session went stale on its owner. KEYS: s. ARGV: member, staleSinceMs, ttlMs, channelPrefix, notify (a member
 * waiting for the release, or ''), id. Returns 1 if this edge owns it.
 */
export const STALE = `
local owner = redis.call('HGET', KEYS[1], 'owner')
local mine = owner == ARGV[1]
if mine then
  redis.call('HSET', KEYS[1], 'state', 'stale', 'staleSince', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
end
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[4] .. ARGV[5], 'D' .. ARGV[6]) end
if mine then return 1 end
return 0`;

/**
 * Master data for a session this edge thinks it holds stale, or no longer holds: appended to its missed list if
 * this edge owns it, else forwarded to the owner's channel. KEYS: s, m. ARGV: member, data, channelPrefix, id, ttlMs.
 * Returns 'ok', 'fwd' or 'gone'.
 */
export const DELIVER = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return 'gone' end
if owner == ARGV[1] then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]))
  return 'ok'
end
redis.call('PUBLISH', ARGV[3] .. owner, 'F' .. ARGV[4] .. ':' .. ARGV[2])
return 'fwd'`;

/** A Kick for a session held elsewhere: forwarded. KEYS: s. ARGV: member, channelPrefix, id. Returns 'fwd', 'mine' or 'gone'. */
export const KICK = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return 'gone' end
if owner == ARGV[1] then return 'mine' end
redis.call('PUBLISH', ARGV[2] .. owner, 'K' .. ARGV[3])
return 'fwd'`;

/**
 * The session ends on this edge (stale timeout, eviction, overflow, frame cap, kick). Only the owner ends it; an
 * edge that lost it meanwhile forwards the data that ended it (if any) to the new owner instead.
 * A Kick that reaches an edge that lost the session is forwarded likewise.
 * KEYS: s, m, ownedMine. ARGV: member, data ('' for none), hasData, channelPrefix, id, isKick. Returns 'ended', 'moved' or 'gone'.
 */
export const END = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return 'gone' end
if owner == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[5])
  return 'ended'
end
if ARGV[3] == '1' then redis.call('PUBLISH', ARGV[4] .. owner, 'F' .. ARGV[5] .. ':' .. ARGV[2]) end
if ARGV[6] == '1' then redis.call('PUBLISH', ARGV[4] .. owner, 'K' .. ARGV[5]) end
return 'moved'`;

/**
 * Claims a session after its challenge passed. The epoch read before the challenge must still hold; a session
 * live on another living edge must be released first (state stale) unless that edge is dead (ownerDead = '1').
 * The previous owner hears M<id>. KEYS: s, m, ownedMine, channel prefix is ARGV. ARGV: member, epoch, ownerDead,
 * channelPrefix, id, ownedPrefix.
 * Returns {'ok', previousOwner, newEpoch, missed...} or {'gone'} / {'raced'} / {'live', owner}.
 */
export const CLAIM = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return {'gone'} end
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch'))
if epoch ~= tonumber(ARGV[2]) then return {'raced'} end
local state = redis.call('HGET', KEYS[1], 'state')
if owner ~= ARGV[1] and state ~= 'stale' and ARGV[3] ~= '1' then return {'live', owner} end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', epoch + 1, 'state', 'live')
redis.call('PERSIST', KEYS[1])
local out = {'ok', owner, tostring(epoch + 1)}
for _, p in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do out[#out + 1] = p end
redis.call('DEL', KEYS[2])
if owner ~= ARGV[1] then
  redis.call('SREM', ARGV[6] .. owner, ARGV[5])
  redis.call('SADD', KEYS[3], ARGV[5])
  redis.call('PUBLISH', ARGV[4] .. owner, 'M' .. ARGV[5])
end
return out`;

/**
 * Takes over the sessions of a dead member: each becomes stale on this edge, its stale clock running from the
 * member's last heartbeat at the latest (from now for a member that left or whose process was seen to die: score 0). KEYS: members, ownedDead, ownedMine. ARGV: dead, member, sPrefix, mPrefix,
 * memberTimeoutMs, ttlMs. Returns {} when the member is alive again or another edge adopted it first, else
 * {id, epoch, key, staleSince, ...}.
 */
export const ADOPT = `
${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) >= now then return {} end
redis.call('ZREM', KEYS[1], ARGV[1])
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local s = ARGV[3] .. id
  if redis.call('HGET', s, 'owner') == ARGV[1] then
    local since = redis.call('HGET', s, 'staleSince')
    if redis.call('HGET', s, 'state') ~= 'stale' or not since then
      -- A member that left (score 0) was alive until now; a silent one until its last heartbeat.
      if tonumber(score) == 0 then since = tostring(now) else since = tostring(tonumber(score) - tonumber(ARGV[5])) end
    end
    local epoch = redis.call('HINCRBY', s, 'epoch', 1)
    redis.call('HSET', s, 'owner', ARGV[2], 'state', 'stale', 'staleSince', since)
    redis.call('PEXPIRE', s, tonumber(ARGV[6]))
    redis.call('SADD', KEYS[3], id)
    out[#out + 1] = id
    out[#out + 1] = tostring(epoch)
    out[#out + 1] = redis.call('HGET', s, 'key')
    out[#out + 1] = since
  end
end
redis.call('DEL', KEYS[2])
return out`;
