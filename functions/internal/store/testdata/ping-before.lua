local site, fam, addr, now, since = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[9]
local n = #ARGV
local rec = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$'
-- Reads first (the site's record with its first peers in one HMGET), writes only once the
-- run key is ours: the script is atomic, so nothing happens in between.
local j = math.min(n, 510)
if since ~= '' then j = 10 end
local vals = redis.call('HMGET', KEYS[1], site, unpack(ARGV, 11, j))
local floorName = '#' .. ARGV[10]
local out = {'ok', 0, '', 0, '', '0', 0, '', 'list'}
local cur = vals[1]
local r = {'', '0', '0', '', '0', '0'}
if cur then r = {string.match(cur, rec)} end
local prevSeen = math.max(tonumber(r[2]) or 0, tonumber(r[5]) or 0)
local o = 0
if fam == '6' then o = 3 end
local prev = r[o + 1]
local changed = 0
if prev ~= addr then
  changed = 1
  r[o + 1] = addr
  r[o + 3] = now
end
r[o + 2] = now
local self = table.concat(r, '|')
local before = tonumber(redis.call('GET', KEYS[2]) or '0')
local version = before + changed
-- The changes set holds each site at the version of its last change, and '#' .. the
-- configuration's id (ARGV[10]) at the floor from which it is complete for that
-- configuration. It is complete up to the version when its top score is the version (a
-- change it missed, made by a script without it, lowers the top); else the floor is raised
-- to the version. A configuration without a floor (new, or its peers changed) bumps the
-- version and starts its floor there, so every since from before gets every site. A since
-- from the floor to the version is answered with the sites changed after it; any other
-- since gets every site.
local mode, s, repair, bump = 'list', nil, false, 0
if since ~= '' or changed == 1 then
  local top = redis.call('ZRANGE', KEYS[7], -1, -1, 'WITHSCORES')
  repair = not (top[2] and tonumber(top[2]) == before)
end
if since ~= '' then
  s = tonumber(since)
  local floor = redis.call('ZSCORE', KEYS[7], floorName)
  if not floor then
    bump = 1
    version = version + 1
  end
  mode = 'full'
  if not repair and bump == 0 and s and s >= tonumber(floor) and s <= version then mode = 'delta' end
end
local function tail()
  out[9] = mode
  if mode == 'list' then
    for k = 2, #vals do out[#out + 1] = vals[k] or '' end
    local i = j + 1
    while i <= n do
      local e = math.min(i + 499, n)
      for _, v in ipairs(redis.call('HMGET', KEYS[1], unpack(ARGV, i, e))) do out[#out + 1] = v or '' end
      i = e + 1
    end
  elseif mode == 'full' then
    for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
  elseif s < version then
    local names = redis.call('ZRANGEBYSCORE', KEYS[7], '(' .. since, '+inf')
    if n > 10 then
      -- A peer with lines comes with all of them when one changed.
      local hit, have = {}, {}
      for _, v in ipairs(names) do hit[v:match('^[^/]*')], have[v] = true, true end
      for k = 11, n do
        local v = ARGV[k]
        if hit[v:match('^[^/]*')] and not have[v] then names[#names + 1] = v end
      end
    end
    local i = 1
    while i <= #names do
      local e = math.min(i + 499, #names)
      local got = redis.call('HMGET', KEYS[1], unpack(names, i, e))
      for k = i, e do
        out[#out + 1] = names[k]
        out[#out + 1] = got[k - i + 1] or ''
      end
      i = e + 1
    end
  end
  return table.concat(out, '\n')
end
local hf = site .. ':' .. fam
local announced = redis.call('HGET', KEYS[5], hf)
local record = false
if not announced then
  -- Nothing handled yet for this site and family: an address it already had counts as
  -- handled (state written before handling was tracked); a new one is still to handle.
  announced = prev
  if changed == 0 then announced = addr end
  record = true
end
local handle = 0
if announced ~= addr then
  local lease = redis.call('GET', KEYS[6]) or ''
  if lease:sub(1, #addr + 1) ~= addr .. '|' then handle = 1 end
end
local run = ARGV[7] .. '|' .. changed .. '|' .. prev .. '|' .. version .. '|' .. prevSeen .. '|' .. handle .. '|' .. announced
if not redis.call('SET', KEYS[4], run, 'NX', 'PX', ARGV[5]) then
  local v = redis.call('GET', KEYS[4]) or ''
  local tok = ARGV[7] .. '|'
  if v:sub(1, #tok) ~= tok then return 'replay' end
  local c, p, ver, ps, h, a = string.match(v:sub(#tok + 1), '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  out[2], out[3], out[4], out[5], out[6], out[7], out[8] = tonumber(c), p, tonumber(ver), cur or '', ps, tonumber(h), a
  return tail()
end
redis.call('HSET', KEYS[1], site, self)
if changed + bump > 0 then redis.call('INCRBY', KEYS[2], changed + bump) end
if changed == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'kind', 'address_changed', 'site', site,
    'family', 'ipv' .. fam, 'ip', addr, 'previous', prev, 'at', now)
end
if bump == 1 then
  redis.call('ZADD', KEYS[7], version, floorName)
elseif repair then
  redis.call('ZADD', KEYS[7], before, floorName)
end
if changed == 1 then redis.call('ZADD', KEYS[7], version, site) end
if record then redis.call('HSET', KEYS[5], hf, announced) end
if handle == 1 then redis.call('SET', KEYS[6], addr .. '|' .. ARGV[7], 'PX', ARGV[8]) end
out[2], out[3], out[4], out[5], out[6], out[7], out[8] = changed, prev, version, self, tostring(prevSeen), handle, announced
return tail()
