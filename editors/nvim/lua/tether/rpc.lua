-- Tether's JSON-RPC connection: the child process and the messages on its
-- stdin and stdout (LSP framing, Content-Length headers; protocol.md
-- "Transport").
--
-- Why not vim.lsp.rpc: it hands every message to the main loop as an event
-- of its own. An answer streams one notification per token, and in an
-- editor with a UI each event costs a pass of the main loop: 100,000
-- tokens took Neovim 0.7.2 about 7 s, during which the flush timer, the
-- spinner and :TetherCancel waited behind the queued tokens. Here the read
-- callback frames and decodes what it read, and hands the main loop one
-- event per read (a batch of messages), so a flood of tokens costs a few
-- hundred events instead of a hundred thousand.
--
-- Only luv (vim.loop, vim.uv from 0.10) and vim.json are used, the same on
-- every Neovim from 0.7.
local M = {}

local uv = vim.uv or vim.loop

-- How much of Tether's log (stderr) is kept: its first lines (a start-up
-- failure, a bad flag) and its last (what happened before it exited).
local STDERR_HEAD, STDERR_TAIL = 5, 20
-- How long after Tether's exit its output may still be read: longer only
-- if something it started holds its stdout or stderr open.
local DRAIN_AFTER_EXIT_MS = 2000

-- encode frames one message.
local function encode(msg)
  local body = vim.json.encode(msg)
  return 'Content-Length: ' .. #body .. '\r\n\r\n' .. body
end

-- new_reader returns feed(chunk), which calls on_message(decoded) for every
-- whole message the chunks so far complete, in order. It is linear in what
-- it reads: a long message's chunks are joined once, when it is whole.
local function new_reader(on_message, on_error)
  local parts, have = {}, 0 -- bytes read and not yet used
  local need = nil -- bytes needed for the message begun, when known
  return function(chunk)
    parts[#parts + 1] = chunk
    have = have + #chunk
    if need and have < need then
      return
    end
    local data = table.concat(parts)
    local pos = 1
    while true do
      local hend = data:find('\r\n\r\n', pos, true)
      if not hend then
        break
      end
      local len = tonumber(data:sub(pos, hend - 1):lower():match('content%-length:%s*(%d+)'))
      if not len then
        on_error('message without Content-Length: ' .. data:sub(pos, hend - 1))
        pos = hend + 4
      else
        local first = hend + 4
        if #data - first + 1 < len then
          need = first - pos + len
          break
        end
        local ok, msg = pcall(vim.json.decode, data:sub(first, first + len - 1), {
          luanil = { object = true, array = true },
        })
        if ok and type(msg) == 'table' then
          on_message(msg)
        else
          on_error('invalid JSON from tether: ' .. tostring(msg))
        end
        pos = first + len
        need = nil
      end
    end
    local rest = data:sub(pos)
    parts, have = { rest }, #rest
  end
end

--- Starts cmd (a list: program and arguments) in directory cwd (nil: the
--- current one), in a process group of its own.
---
--- handlers, each called on the main loop:
---   notification(method, params)
---   server_request(method, params) -> result, or nil and {code, message}
---   on_exit(code, signal), once the process has exited and everything it
---     wrote has been handled; requests still unanswered are not called back.
---
--- Returns a handle {request, notify, kill, is_closing, stderr, pid} or nil
--- and an error message.
function M.start(cmd, handlers, cwd)
  local stdin, stdout, stderr = uv.new_pipe(false), uv.new_pipe(false), uv.new_pipe(false)
  local callbacks = {} -- request id -> cb(err, result)
  local next_id = 0
  local inbox, scheduled = {}, false
  local log_head, log_tail, log_dropped, log_partial = {}, {}, false, ''
  local exit_code, exit_signal, open_streams = nil, nil, 2
  local handle, pid

  local function write(msg)
    if stdin:is_closing() then
      return false
    end
    return stdin:write(encode(msg)) ~= nil
  end

  local function report(err)
    vim.notify('Tether: ' .. err, vim.log.levels.ERROR)
  end

  local function handle_message(msg)
    if msg.method and msg.id ~= nil then
      local ok, result, err = pcall(handlers.server_request, msg.method, msg.params)
      if not ok then
        err, result = { code = -32603, message = tostring(result) }, nil
      end
      if err then
        write({ jsonrpc = '2.0', id = msg.id, error = err })
      else
        write({ jsonrpc = '2.0', id = msg.id, result = result == nil and vim.NIL or result })
      end
    elseif msg.method then
      local ok, err = pcall(handlers.notification, msg.method, msg.params)
      if not ok then
        report('handling ' .. msg.method .. ': ' .. tostring(err))
      end
    else
      local cb = callbacks[msg.id]
      callbacks[msg.id] = nil
      if cb then
        local ok, err = pcall(cb, msg.error, msg.result)
        if not ok then
          report('handling the answer to request ' .. tostring(msg.id) .. ': ' .. tostring(err))
        end
      end
    end
  end

  -- drain handles, on the main loop, every message read so far.
  local function drain()
    scheduled = false
    local batch = inbox
    inbox = {}
    for _, msg in ipairs(batch) do
      handle_message(msg)
    end
  end

  local finished = false
  local function finish()
    if finished or exit_code == nil or open_streams > 0 then
      return
    end
    finished = true
    for _, pipe in ipairs({ stdin, stdout, stderr }) do
      if not pipe:is_closing() then
        pipe:close()
      end
    end
    handle:close()
    -- After the last drain scheduled, so the answers come first.
    vim.schedule(function()
      handlers.on_exit(exit_code, exit_signal)
    end)
  end

  local function reader_done(pipe)
    if pipe:is_closing() then
      return
    end
    pipe:read_stop()
    pipe:close()
    open_streams = open_streams - 1
    finish()
  end

  local feed = new_reader(function(msg)
    inbox[#inbox + 1] = msg
    if not scheduled then
      scheduled = true
      vim.schedule(drain)
    end
  end, function(err)
    vim.schedule(function()
      report(err)
    end)
  end)

  local ok, spawned, spawn_pid = pcall(uv.spawn, cmd[1], {
    args = vim.list_slice(cmd, 2),
    stdio = { stdin, stdout, stderr },
    cwd = cwd,
    detached = true, -- its own process group: signals for Neovim are not for it
  }, function(code, signal)
    exit_code, exit_signal = code, signal
    finish()
    if not finished then
      local timer = uv.new_timer()
      timer:start(DRAIN_AFTER_EXIT_MS, 0, function()
        timer:close()
        open_streams = 0
        finish()
      end)
    end
  end)
  if not ok or not spawned then
    stdin:close()
    stdout:close()
    stderr:close()
    return nil, 'could not start ' .. table.concat(cmd, ' ') .. ': ' .. tostring(ok and spawn_pid or spawned)
  end
  handle, pid = spawned, spawn_pid

  stdout:read_start(function(err, chunk)
    if err or not chunk then
      reader_done(stdout)
      return
    end
    feed(chunk)
  end)
  stderr:read_start(function(err, chunk)
    if err or not chunk then
      reader_done(stderr)
      return
    end
    local text = log_partial .. chunk
    for line in text:gmatch('([^\n]*)\n') do
      if #log_head < STDERR_HEAD then
        log_head[#log_head + 1] = line
      else
        log_tail[#log_tail + 1] = line
        if #log_tail > STDERR_TAIL then
          table.remove(log_tail, 1)
          log_dropped = true
        end
      end
    end
    log_partial = text:match('[^\n]*$')
  end)

  local h = { pid = pid }

  --- Sends a request; cb(err, result) gets its answer on the main loop.
  --- Returns true and the request's id, or false if Tether is gone.
  function h.request(method, params, cb)
    next_id = next_id + 1
    local id = next_id
    if not write({ jsonrpc = '2.0', id = id, method = method, params = params }) then
      return false
    end
    callbacks[id] = cb
    return true, id
  end

  --- Sends a notification; false if Tether is gone.
  function h.notify(method, params)
    return write({ jsonrpc = '2.0', method = method, params = params })
  end

  --- Sends Tether signal (default 'sigterm', which it treats as `exit`).
  function h.kill(signal)
    if not handle:is_closing() then
      handle:kill(signal or 'sigterm')
    end
  end

  function h.is_closing()
    return handle:is_closing()
  end

  --- What Tether wrote to stderr (its log): the first lines and the last,
  --- with '…' between them where lines were dropped.
  function h.stderr()
    local lines = vim.list_extend(vim.deepcopy(log_head), log_dropped and { '…' } or {})
    vim.list_extend(lines, log_tail)
    if log_partial ~= '' then
      lines[#lines + 1] = log_partial
    end
    return lines
  end

  return h
end

return M
