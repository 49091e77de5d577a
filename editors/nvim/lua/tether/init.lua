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
}

local config = vim.deepcopy(defaults)

-- The one connection. turn is the question being answered; queue holds the
-- questions asked meanwhile, sent one at a time so that each answer follows
-- its own question in the buffer.
local state = {
  client = nil, -- handle from tether.rpc, while the process runs
  exited = true,
  exit_code = nil,
  session_opts = nil, -- fixed at the first question (cwd must not change)
  turn = nil, -- {id = request id, prompt = string, cb = function|nil}
  queue = {},
  status = 'stopped', -- the session's last session/status, or 'stopped'
  permissions = {}, -- requestId -> true while it may be answered
  last_result = nil,
  buf = nil,
  fresh = true, -- the next streamed text starts a new line
}

local function notify(msg, level)
  vim.notify('Tether: ' .. msg, level or vim.log.levels.INFO)
end

local function session_id()
  return config.session_id or ('nvim-' .. vim.fn.getpid())
end

-- JSON null arrives as vim.NIL or nil depending on the Neovim version.
local function val(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

---------------------------------------------------------------------------
-- The answer buffer
---------------------------------------------------------------------------

local function get_buf()
  if state.buf and vim.api.nvim_buf_is_valid(state.buf) then
    return state.buf
  end
  local buf = vim.api.nvim_create_buf(false, true)
  pcall(vim.api.nvim_buf_set_name, buf, 'tether://' .. session_id())
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].modifiable = false
  state.buf = buf
  state.fresh = true
  return buf
end

--- The answer buffer's number (created on first use).
function M.buffer()
  return get_buf()
end

local function show_buf()
  local buf = get_buf()
  if not config.open then
    return
  end
  if vim.fn.bufwinid(buf) ~= -1 then
    return
  end
  local win = vim.api.nvim_get_current_win()
  vim.cmd(config.open)
  vim.api.nvim_win_set_buf(0, buf)
  vim.api.nvim_set_current_win(win)
end

-- edit runs fn(buf) with the buffer modifiable, then keeps every window
-- showing it at its end.
local function edit(fn)
  local buf = get_buf()
  vim.bo[buf].modifiable = true
  fn(buf)
  vim.bo[buf].modifiable = false
  local last = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    vim.api.nvim_win_set_cursor(win, { last, 0 })
  end
end

local function buf_empty(buf)
  return vim.api.nvim_buf_line_count(buf) == 1 and vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ''
end

-- put_line adds line as a line of its own; streamed text after it starts on
-- a new line.
local function put_line(line)
  edit(function(buf)
    if buf_empty(buf) then
      vim.api.nvim_buf_set_lines(buf, 0, 1, false, { line })
    else
      vim.api.nvim_buf_set_lines(buf, -1, -1, false, { line })
    end
  end)
  state.fresh = true
end

-- put_text appends streamed text at the end of the buffer; its newlines start
-- new lines.
local function put_text(text)
  if text == '' then
    return
  end
  if state.fresh then
    -- A line break right after a line of our own (the prompt, a tool
    -- summary) is the one that line already made.
    text = text:gsub('^\r?\n', '', 1)
    if text == '' then
      return
    end
    edit(function(buf)
      vim.api.nvim_buf_set_lines(buf, -1, -1, false, { '' })
    end)
    state.fresh = false
  end
  edit(function(buf)
    local row = vim.api.nvim_buf_line_count(buf) - 1
    local col = #vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1]
    vim.api.nvim_buf_set_text(buf, row, col, row, col, vim.split(text, '\n', { plain = true }))
  end)
end

---------------------------------------------------------------------------
-- The connection
---------------------------------------------------------------------------

local send_next -- forward

local function finish_turn(line, result, err)
  local turn = state.turn
  if not turn then
    return
  end
  state.turn = nil
  if line then
    put_line(line)
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
  local choices = { 'Allow', 'Always allow', 'Deny' }
  vim.ui.select(choices, { prompt = 'Tether: allow ' .. what .. '?' }, function(choice)
    if not state.permissions[id] then
      return -- withdrawn meanwhile (cancelled, turn ended)
    end
    state.permissions[id] = nil
    local params = { requestId = id, decision = 'deny', reason = 'denied in Neovim' }
    if choice == 'Allow' then
      params = { requestId = id, decision = 'allow' }
    elseif choice == 'Always allow' then
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

local function on_notification(method, p)
  if type(p) ~= 'table' or p.sessionId ~= session_id() then
    return
  end
  if method == 'session/status' then
    state.status = p.status
    return
  end
  if method == 'permission/request' then
    on_permission(p)
    return
  end
  if method == 'permission/cancelled' then
    state.permissions[p.requestId] = nil
    return
  end
  local turn = state.turn
  if not turn or tonumber(val(p.queryId)) ~= turn.id then
    return
  end
  if method == 'session/token' then
    put_text(p.text)
  elseif method == 'session/toolResult' then
    put_line((p.isError and '[tool error] ' or '[tool] ') .. tostring(val(p.summary) or p.toolName))
  end
end

local function on_exit(code, signal)
  -- Runs in a libuv callback on some versions: mark, then leave the editor
  -- work to the main loop.
  state.exited = true
  state.exit_code = code
  vim.schedule(function()
    state.client = nil
    state.status = 'stopped'
    state.permissions = {}
    local q = state.queue
    state.queue = {}
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
  end)
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
      return nil, vim.lsp.rpc.rpc_response_error(-32601, 'not supported by tether.nvim: ' .. method)
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
  local buf = get_buf()
  if not buf_empty(buf) then
    put_line('')
  end
  for _, line in ipairs(vim.split(turn.prompt, '\n', { plain = true })) do
    put_line('> ' .. line)
  end
  put_line('')
  local ok, id = state.client.request('session/query', query_params(turn.prompt), function(err, result)
    if state.turn ~= turn then
      return
    end
    if err then
      finish_turn('[error] ' .. tostring(err.message), nil, err)
      return
    end
    local reason = result.stopReason
    if reason == 'end_turn' then
      finish_turn(nil, result)
    elseif reason == 'cancelled' then
      finish_turn('[cancelled]', result)
    else
      finish_turn('[stopped: ' .. tostring(reason) .. ']', result)
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
end

--- Asks prompt in the session; the answer streams into the answer buffer.
--- cb(err, result), if given, gets the session/query answer.
function M.ask(prompt, cb)
  if not prompt or prompt:match('^%s*$') then
    notify('nothing to ask', vim.log.levels.WARN)
    return
  end
  show_buf()
  table.insert(state.queue, { prompt = prompt, cb = cb })
  send_next()
end

--- Stops the running answer and drops the questions waiting behind it.
function M.cancel()
  local dropped = state.queue
  state.queue = {}
  for _, t in ipairs(dropped) do
    if t.cb then
      t.cb({ code = -32800, message = 'cancelled' }, nil)
    end
  end
  if state.client and state.turn then
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
  if not state.exited then
    client.kill()
    vim.wait(1000, function()
      return state.exited
    end, 10)
  end
  -- Let the scheduled exit handling run, so the buffer says how it ended.
  vim.wait(200, function()
    return state.client == nil
  end, 10)
  return state.exited
end

--- The session's status: 'stopped', 'idle', 'busy', 'waiting_permission', ...
function M.status()
  return state.status
end

--- True while a question is being answered or waits to be.
function M.busy()
  return state.turn ~= nil or #state.queue > 0
end

--- The last session/query result (stopReason, text, usage), or nil.
function M.last_result()
  return state.last_result
end

--- Tether's exit code, once it has exited; and its pid where Neovim says it
--- (0.7). For tests and statuslines.
function M.process()
  return {
    running = state.client ~= nil and not state.exited,
    exit_code = state.exit_code,
    pid = state.client and state.client.pid,
  }
end

return M
