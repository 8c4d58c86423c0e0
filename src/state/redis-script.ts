/**
 * The lease authority as one Lua script, run atomically by Redis (or Valkey) over every counter of an exchange: the
 * same algorithm as authority.ts (keep the two in step). Redis's own clock (TIME) is the time base, so replicas with
 * skewed clocks agree. Each counter is one hash: lvl/upd (rate bucket), held (sum of leases), used (quota), scarce
 * (ms until which holders are told to keep no spare), and per holder h:<id> held, s:<id> spare, e:<id> expiry and
 * c:<id> quota consumed (so a Redis that lost its data is re-seeded from the holders, never counting a unit twice).
 *
 * KEYS: the epoch key, the settling key, then one per counter. ARGV: holder, lease ttl ms, the epoch the holder last
 * saw ('' if none), the settling period in ms, then per counter: kind, cap, windowMs, consumed, returned, need, want, min, held, spare, history.
 * Returns per counter: granted, floor(level), scarce (0/1), retry (0/1); then the epoch and the ms left of the
 * settling period (0 when not settling), so holders keep their waiting requests until it ends instead of refusing.
 */
export const EXCHANGE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = ARGV[1]
local ttl = tonumber(ARGV[2])
-- A Redis that lost its data (restarted without persistence) gets a new epoch. A holder that knew the old one
-- starts a settling period (ARGV[4] ms): nothing is granted while every holder re-declares its leases and usage.
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = tostring(now) .. ':' .. holder
  redis.call('SET', KEYS[1], epoch)
end
if ARGV[3] ~= '' and ARGV[3] ~= epoch then redis.call('SET', KEYS[2], '1', 'PX', tonumber(ARGV[4]), 'NX') end
local settling = redis.call('EXISTS', KEYS[2]) == 1
local out = {}
for i = 3, #KEYS do
  local key = KEYS[i]
  local b = 4 + (i - 3) * 11
  local kind = ARGV[b + 1]
  local cap = tonumber(ARGV[b + 2])
  local win = tonumber(ARGV[b + 3])
  local consumed = tonumber(ARGV[b + 4])
  local returned = tonumber(ARGV[b + 5])
  local need = tonumber(ARGV[b + 6])
  local want = tonumber(ARGV[b + 7])
  local minneed = tonumber(ARGV[b + 8])
  local iheld = tonumber(ARGV[b + 9])
  local ispare = tonumber(ARGV[b + 10])
  local history = tonumber(ARGV[b + 11])

  local f = redis.call('HGETALL', key)
  local st = {}
  for j = 1, #f, 2 do st[f[j]] = f[j + 1] end
  local fresh = st['cap'] == nil
  local level = tonumber(st['lvl'] or cap)
  local upd = tonumber(st['upd'] or now)
  local held = tonumber(st['held'] or 0)
  local used = tonumber(st['used'] or 0)
  local scarceUntil = tonumber(st['scarce'] or 0)
  if (not fresh) and kind == 'rate' then
    local oldcap = tonumber(st['cap'])
    if oldcap ~= cap then level = level + cap - oldcap end
  end

  -- reclaim dead holders
  local holders = 0
  local othersHeld = 0
  for k, v in pairs(st) do
    if string.sub(k, 1, 2) == 'e:' then
      local id = string.sub(k, 3)
      if tonumber(v) <= now then
        local hh = tonumber(st['h:' .. id] or 0)
        held = held - hh
        if kind == 'quota' and hh > 0 then
          used = used + hh
          st['c:' .. id] = tostring(tonumber(st['c:' .. id] or 0) + hh)
          redis.call('HSET', key, 'c:' .. id, st['c:' .. id])
        end
        redis.call('HDEL', key, 'h:' .. id, 's:' .. id, 'e:' .. id)
      else
        holders = holders + 1
        if id ~= holder then othersHeld = othersHeld + tonumber(st['h:' .. id] or 0) end
      end
    end
  end

  if kind == 'rate' then
    level = math.min(cap - held, level + (now - upd) * cap / win)
    upd = now
  end
  local known = st['e:' .. holder] ~= nil and tonumber(st['e:' .. holder]) > now
  local hheld = 0
  if known then
    hheld = tonumber(st['h:' .. holder] or 0)
  else
    holders = holders + 1
    -- its lease came out of a bucket this one does not remember: charged here, so its returns are not counted twice
    if kind == 'rate' then level = level - history - iheld - returned end
  end
  if kind == 'quota' then
    local c = tonumber(st['c:' .. holder] or 0) + consumed
    if c < history then c = history end
    used = used + c - tonumber(st['c:' .. holder] or 0)
    redis.call('HSET', key, 'c:' .. holder, c)
  end
  held = held + iheld - hheld
  hheld = iheld
  if kind == 'rate' then level = math.min(cap - held, level + returned) end

  local avail
  if kind == 'rate' then avail = level
  elseif kind == 'slots' then avail = cap - held
  else avail = cap - used - held end

  local granted = 0
  if settling then
    granted = 0
  elseif want > 0 and avail >= need and avail > 0 then
    local share = math.floor(avail / holders)
    granted = math.max(need, math.min(want, share))
  elseif need > 0 and avail + ispare >= minneed and avail >= 1 then
    granted = math.floor(avail)
  end
  local retry = 0
  if granted < need then
    if settling or othersHeld + avail - granted >= minneed then retry = 1 end
    scarceUntil = now + 1000
  end
  hheld = hheld + granted
  held = held + granted
  if kind == 'rate' then level = level - granted end
  local left = avail - granted
  local scarce = 0
  if retry == 1 or granted < need or left * 10 < cap or now < scarceUntil then scarce = 1 end

  redis.call('HSET', key, 'cap', cap, 'lvl', level, 'upd', upd, 'held', held, 'used', used, 'scarce', scarceUntil,
    'h:' .. holder, hheld, 's:' .. holder, ispare + granted, 'e:' .. holder, now + ttl)
  if kind == 'quota' then
    redis.call('PEXPIRE', key, win + 86400000)
  else
    redis.call('PEXPIRE', key, math.max(win, ttl) * 2)
  end
  out[#out + 1] = granted
  out[#out + 1] = math.floor(left)
  out[#out + 1] = scarce
  out[#out + 1] = retry
end
out[#out + 1] = epoch
if settling then out[#out + 1] = math.max(1, redis.call('PTTL', KEYS[2])) else out[#out + 1] = 0 end
return out
`;
