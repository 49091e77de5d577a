-- Tether for Neovim: ask an AI coding agent through Tether and read the
-- answer as it streams into a scratch buffer.
--
-- One Tether process and one session per Neovim instance: every question
-- goes to the same session, so follow-up questions keep their context.
-- protocol.md in the Tether repository is the contract this speaks.
local M = {}

local defaults = {
  -- Tether's command line: a string (the program) or a list.
  cmd = { 'tether' },
  -- The session's id; default "nvim-" .. Neovim's pid.
  session_id = nil,
  -- Session options (see session/query in protocol.md); nil leaves Tether's
  -- default. cwd defaults to Neovim's working directory at the first
  -- question.
  backend = nil,
  model = nil,
  system_prompt = nil,
  permission_mode = nil,
  cwd = nil,
  -- How the answer buffer is shown when it is not visible: an Ex command
  -- that opens a window, or false to leave the windows alone.
  open = 'botright split',
  -- How long stop() waits for Tether to exit before it kills it (ms).
  stop_timeout = 3000,
  -- Streamed text is written to the buffer at most once per this many ms.
  flush_interval = 30,
  -- Show the running answer's progress (spinner, status, elapsed time) at
  -- the end of the answer buffer; progress() returns it either way.
  progress = true,
  -- The spinner's frames; nil keeps the default (Braille dots).
  spinner = nil,
}

local config = vim.deepcopy(defaults)

local uv = vim.uv or vim.loop
local answer = require('tether.answer')
local progress = require('tether.progress')

-- The one connection. turn is the question being answered; queue holds the
-- questions asked meanwhile, sent one at a time so that each answer follows
-- its own question in the buffer.
local state = {
  client = nil, -- handle from tether.rpc, while the process runs
  exited = true,
  exit_code = nil,
  session_opts = nil, -- fixed at the first question (cwd must not change)
  -- {id = request id, prompt, cb = function|nil, t0 = hrtime when sent,
  -- cancelled = true once :TetherCancel stopped showing it}
  turn = nil,
  queue = {},
  status = 'stopped', -- the session's last session/status, or 'stopped'
  permissions = {}, -- requestId -> true while it may be answered
  last_result = nil,
  log = nil, -- what the last Tether wrote to stderr, once it has exited
}

local function notify(msg, level)
  vim.notify('Tether: ' .. msg, level or vim.log.levels.INFO)
end

local sid -- the session's id, set by configure()

local function session_id()
  return sid
end

-- val reads a JSON value that may be null: tether.rpc decodes null in an
-- object as nil, and vim.NIL is taken too.
local function val(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

-- configure passes the options to the buffer and the progress indicator.
local function configure()
  sid = config.session_id or ('nvim-' .. vim.fn.getpid())
  answer.configure({
    name = 'tether://' .. session_id(),
    flush_interval = config.flush_interval,
    on_write = progress.follow,
  })
  progress.configure({ in_buffer = config.progress, spinner = config.spinner })
end
configure()

---------------------------------------------------------------------------
-- The connection
---------------------------------------------------------------------------

local send_next -- forward

-- duration says ms the way a person reads it: 840 ms, 8.4 s, 2m05s.
local function duration(ms)
  if ms < 1000 then
    return string.format('%d ms', ms)
  elseif ms < 60000 then
    return string.format('%.1f s', ms / 1000)
  end
  local s = math.floor(ms / 1000)
  return string.format('%dm%02ds', math.floor(s / 60), s % 60)
end

-- closing_line sums up an answer that ended:
--   [end_turn · 12 in, 6 out tokens · $0.0123 · 840 ms]
-- tokens and cost where the backend reports them; the duration is
-- Tether's, or the time since the question was sent.
local function closing_line(result, turn)
  local parts = { tostring(val(result.stopReason) or 'ended') }
  local usage = val(result.usage)
  if type(usage) == 'table' and (val(usage.inputTokens) or val(usage.outputTokens)) then
    parts[#parts + 1] =
      string.format('%d in, %d out tokens', val(usage.inputTokens) or 0, val(usage.outputTokens) or 0)
  end
  local cost = tonumber(val(result.costUsd))
  if cost then
    parts[#parts + 1] = string.format(cost < 1 and '$%.4f' or '$%.2f', cost)
  end
  local ms = tonumber(val(result.durationMs)) or (uv.hrtime() - turn.t0) / 1e6
  parts[#parts + 1] = duration(ms)
  return '[' .. table.concat(parts, ' · ') .. ']'
end

-- finish_turn ends the running answer: the text streamed so far is
-- written, the progress indicator goes, and line (the closing line, an
-- error) follows the answer.
local function finish_turn(line, result, err)
  local turn = state.turn
  if not turn then
    return
  end
  state.turn = nil
  if turn.cancelled then
    answer.discard()
  end
  progress.stop()
  if line then
    answer.line(line)
  else
    answer.flush()
  end
  state.last_result = result
  if turn.cb then
    turn.cb(err, result)
  end
  send_next()
end

local function on_permission(p)
  local id = p.requestId
  state.permissions[id] = true
  local input = val(p.toolInput)
  local what = p.toolName .. (input and (' ' .. vim.json.encode(input)) or '')
  -- "Always" adds the request's rule for the session: say which.
  local rule = val(p.alwaysRule)
  local always = (rule and rule ~= '') and ('Always allow ' .. rule) or 'Always allow'
  local choices = { 'Allow', always, 'Deny' }
  vim.ui.select(choices, { prompt = 'Tether: allow ' .. what .. '?' }, function(choice)
    if not state.permissions[id] then
      return -- withdrawn meanwhile (cancelled, turn ended)
    end
    state.permissions[id] = nil
    local params = { requestId = id, decision = 'deny', reason = 'denied in Neovim' }
    if choice == 'Allow' then
      params = { requestId = id, decision = 'allow' }
    elseif choice == always then
      params = { requestId = id, decision = 'allow', remember = true }
    end
    if state.client then
      state.client.request('permission/respond', params, function(err)
        -- -32602: the request was withdrawn before the answer arrived.
        if err and err.code ~= -32602 then
          notify('permission/respond failed: ' .. tostring(err.message), vim.log.levels.WARN)
        end
      end)
    end
  end)
end

-- for_turn tells whether notification params p belong to the running
-- answer; once it is cancelled, what it still streams is not shown.
local function for_turn(p)
  local turn = state.turn
  return turn and not turn.cancelled and tonumber(val(p.queryId)) == turn.id
end

local function on_notification(method, p)
  if type(p) ~= 'table' or p.sessionId ~= session_id() then
    return
  end
  -- The hot path: one call per token.
  if method == 'session/token' then
    if for_turn(p) then
      answer.text(p.text)
      progress.set('phase', 'writing')
    end
    return
  end
  if method == 'session/status' then
    state.status = p.status
    local q = val(p.queryId)
    if state.turn and (q == nil or for_turn(p)) then
      progress.status(p.status, val(p.detail))
    end
    return
  end
  if method == 'permission/request' then
    answer.flush() -- the user reads what the agent said before deciding
    if for_turn(p) then
      -- Before the picker opens: the default one blocks until answered.
      progress.status('waiting_permission', p.toolName)
    end
    on_permission(p)
    return
  end
  if method == 'permission/cancelled' then
    state.permissions[p.requestId] = nil
    return
  end
  if not for_turn(p) then
    return
  end
  if method == 'session/thinking' then
    progress.set('phase', nil)
  elseif method == 'session/toolUse' then
    progress.set('tool', p.toolName) -- first: the tool is what shows
    progress.set('phase', nil)
  elseif method == 'session/toolResult' then
    progress.set('tool', nil)
    answer.line((p.isError and '[tool error] ' or '[tool] ') .. tostring(val(p.summary) or p.toolName))
  end
end

-- on_exit runs once Tether has exited and all it wrote has been handled.
local function on_exit(code, signal)
  local client = state.client
  local log = client and client.stderr() or {}
  state.log = log
  state.exited = true
  state.exit_code = code
  state.client = nil
  state.status = 'stopped'
  state.permissions = {}
  local q = state.queue
  state.queue = {}
  if code ~= 0 and #log > 0 then
    -- A failure Tether explains on stderr (a bad flag, a broken config):
    -- its first words say what to fix.
    notify(string.format("exited with code %d: %s (require('tether').process().log has more)", code, log[1]),
      vim.log.levels.ERROR)
  end
  if state.turn then
    finish_turn(string.format('[tether exited: code %d, signal %d]', code, signal or 0), nil, {
      code = -1,
      message = 'tether exited',
    })
  end
  for _, t in ipairs(q) do
    if t.cb then
      t.cb({ code = -1, message = 'tether exited' }, nil)
    end
  end
end

local function ensure_started()
  if state.client then
    return true
  end
  local cmd = config.cmd
  if type(cmd) == 'string' then
    cmd = { cmd }
  end
  local client, err = require('tether.rpc').start(cmd, {
    notification = on_notification,
    server_request = function(method)
      -- tool/call is for tools the client declares; this plugin declares none.
      return nil, { code = -32601, message = 'not supported by tether.nvim: ' .. method }
    end,
    on_exit = on_exit,
  })
  if not client then
    notify(err .. ' (set the command with require("tether").setup({cmd = {...}}))', vim.log.levels.ERROR)
    return false
  end
  state.client = client
  state.exited = false
  state.exit_code = nil
  state.status = 'idle'
  client.request('initialize', { clientInfo = { name = 'tether.nvim', version = '0.1.0' } }, function() end)
  return true
end

local function query_params(prompt)
  if not state.session_opts then
    state.session_opts = {
      backend = config.backend,
      model = config.model,
      systemPrompt = config.system_prompt,
      permissionMode = config.permission_mode,
      cwd = config.cwd or vim.fn.getcwd(),
    }
  end
  local params = vim.deepcopy(state.session_opts)
  params.sessionId = session_id()
  params.prompt = prompt
  return params
end

send_next = function()
  if state.turn or #state.queue == 0 then
    return
  end
  local turn = table.remove(state.queue, 1)
  if not ensure_started() then
    if turn.cb then
      turn.cb({ code = -1, message = 'tether not started' }, nil)
    end
    state.queue = {}
    return
  end
  state.turn = turn
  if not answer.empty() then
    answer.line('', true)
  end
  for _, line in ipairs(vim.split(turn.prompt, '\n', { plain = true })) do
    answer.line('> ' .. line, true)
  end
  answer.line('', true)
  turn.t0 = uv.hrtime()
  progress.start(answer.buffer())
  progress.set('queued', #state.queue)
  local ok, id = state.client.request('session/query', query_params(turn.prompt), function(err, result)
    if state.turn ~= turn then
      return
    end
    if err then
      finish_turn('[error] ' .. tostring(err.message), nil, err)
    else
      finish_turn(closing_line(result, turn), result)
    end
  end)
  if not ok then
    finish_turn('[error] could not send the question to tether', nil, { code = -1, message = 'send failed' })
    return
  end
  turn.id = id
end

---------------------------------------------------------------------------
-- Public API
---------------------------------------------------------------------------

--- Sets options (see `defaults` above); may be called again.
function M.setup(opts)
  config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  if opts and opts.cmd then
    config.cmd = opts.cmd -- a list replaces the default, never merges into it
  end
  configure()
end

--- The answer buffer's number (created on first use).
function M.buffer()
  return answer.buffer()
end

--- Asks prompt in the session; the answer streams into the answer buffer.
--- cb(err, result), if given, gets the session/query answer.
function M.ask(prompt, cb)
  if not prompt or prompt:match('^%s*$') then
    notify('nothing to ask', vim.log.levels.WARN)
    return
  end
  answer.show(config.open)
  table.insert(state.queue, { prompt = prompt, cb = cb })
  progress.set('queued', #state.queue)
  send_next()
end

--- Stops the running answer and drops the questions waiting behind it. The
--- answer stops growing at once: what was streamed until now is written, and
--- what Tether streams until it has stopped is not shown.
function M.cancel()
  local dropped = state.queue
  state.queue = {}
  for _, t in ipairs(dropped) do
    if t.cb then
      t.cb({ code = -32800, message = 'cancelled' }, nil)
    end
  end
  local turn = state.turn
  if state.client and turn and not turn.cancelled then
    answer.flush()
    turn.cancelled = true
    progress.set('queued', 0)
    progress.set('cancelling', true)
    state.client.request('session/cancel', { sessionId = session_id() }, function() end)
  end
end

--- Ends Tether: shutdown and exit, waiting at most timeout ms (default
--- stop_timeout) before killing it. Returns true once the process has exited.
function M.stop(timeout)
  local client = state.client
  if not client or state.exited then
    return true
  end
  timeout = timeout or config.stop_timeout
  state.queue = {}
  client.request('shutdown', nil, function()
    client.notify('exit', nil)
  end)
  vim.wait(timeout, function()
    return state.exited
  end, 10)
  -- Then SIGTERM (Tether treats it as exit), then SIGKILL.
  for _, signal in ipairs({ 'sigterm', 'sigkill' }) do
    if state.exited then
      break
    end
    client.kill(signal)
    vim.wait(1000, function()
      return state.exited
    end, 10)
  end
  return state.exited
end

--- The session's status: 'stopped', 'idle', 'busy', 'waiting_permission', ...
function M.status()
  return state.status
end

--- What the running answer is doing, for a statusline or winbar:
--- "⠹ waiting for permission: Bash · 4s"; '' when no answer runs. The User
--- autocommand TetherProgress fires whenever it changes.
function M.progress()
  return progress.text()
end

--- True while a question is being answered or waits to be.
function M.busy()
  return state.turn ~= nil or #state.queue > 0
end

--- The last session/query result (stopReason, text, usage), or nil.
function M.last_result()
  return state.last_result
end

--- Tether's process: running, pid, exit_code (once it has exited) and log
--- (the last lines it wrote to stderr).
function M.process()
  return {
    running = state.client ~= nil and not state.exited,
    exit_code = state.exit_code,
    pid = state.client and state.client.pid,
    log = state.client and state.client.stderr() or state.log or {},
  }
end

return M
