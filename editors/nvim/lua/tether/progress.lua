-- The progress indicator of the running answer: a spinner, what the agent
-- is doing (the latest session/status and its detail, the tool it runs)
-- and the time since the question was sent, e.g.
--
--   ⠹ waiting for permission: Bash · 4s
--
-- It is shown as virtual text at the end of the answer buffer's last line
-- (never written into the buffer), and text() returns it for a statusline
-- or winbar. Each change fires the User autocommand TetherProgress.
local M = {}

local api = vim.api
local uv = vim.uv or vim.loop

local ns = api.nvim_create_namespace('tether_progress')
local MARK = 1 -- the one extmark's id
local TICK_MS = 100 -- how often the spinner turns

vim.cmd('highlight default link TetherProgress Comment')

local opts = {
  in_buffer = true, -- show the indicator at the end of the answer buffer
  spinner = { '⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏' },
}

-- The running answer: t0 (hrtime), status, detail, tool, phase ('writing'
-- once text streams, nil again after a tool), cancelling, queued; nil when
-- none runs.
local run
local buf -- the buffer the mark is in
local frame = 1
local text = ''
local timer

--- Sets in_buffer (boolean) and spinner (a list of frames).
function M.configure(o)
  opts = vim.tbl_extend('force', opts, o)
end

local function elapsed(t0)
  local s = math.floor((uv.hrtime() - t0) / 1e9)
  if s < 60 then
    return s .. 's'
  end
  return string.format('%dm%02ds', math.floor(s / 60), s % 60)
end

-- labelled puts label before detail unless detail says it already
-- ("starting" + "claude" is "starting claude"; "starting claude" stays).
local function labelled(label, sep, detail)
  if not detail then
    return label
  end
  if detail:lower():sub(1, #label) == label then
    return detail
  end
  return label .. sep .. detail
end

local function describe(r)
  if r.cancelling then
    return 'cancelling…'
  elseif not r.status then
    return 'sending…' -- Tether has not said anything about it yet
  elseif r.status == 'starting' then
    return labelled('starting', ' ', r.detail)
  elseif r.status == 'waiting_permission' then
    return labelled('waiting for permission', ': ', r.detail)
  elseif r.detail then
    return r.detail -- busy, with something to say: a retry, a compaction
  elseif r.tool then
    return 'running ' .. r.tool
  elseif r.phase == 'writing' then
    return 'writing…'
  end
  return 'thinking…'
end

local function place()
  if not buf or not api.nvim_buf_is_valid(buf) then
    return
  end
  if not run or not opts.in_buffer then
    api.nvim_buf_clear_namespace(buf, ns, 0, -1)
    return
  end
  local row = api.nvim_buf_line_count(buf) - 1
  api.nvim_buf_set_extmark(buf, ns, row, 0, {
    id = MARK,
    virt_text = { { '  ' .. text, 'TetherProgress' } },
    virt_text_pos = 'eol',
    hl_mode = 'combine',
  })
end

local function render()
  local new = ''
  if run then
    new = opts.spinner[frame] .. ' ' .. describe(run) .. ' · ' .. elapsed(run.t0)
    if (run.queued or 0) > 0 then
      new = new .. ' · ' .. run.queued .. ' queued'
    end
  end
  local changed = new ~= text
  text = new
  place()
  if changed then
    pcall(api.nvim_exec_autocmds, 'User', { pattern = 'TetherProgress', modeline = false })
  end
end

local tick = vim.schedule_wrap(function()
  if run then
    frame = frame % #opts.spinner + 1
    render()
  end
end)

--- Starts showing progress at the end of buffer b.
function M.start(b)
  if buf and buf ~= b and api.nvim_buf_is_valid(buf) then
    api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  end
  buf = b
  run = { t0 = uv.hrtime() }
  frame = 1
  timer = timer or uv.new_timer()
  timer:start(TICK_MS, TICK_MS, tick)
  render()
end

--- Sets what the running answer is doing: key is status, detail, tool,
--- phase, cancelling or queued; value nil clears it.
function M.set(key, value)
  if not run or run[key] == value then
    return
  end
  run[key] = value
  render()
end

--- Sets the latest session/status of the running answer and its detail.
function M.status(status, detail)
  if not run then
    return
  end
  if detail == '' then
    detail = nil
  end
  if run.status ~= status or run.detail ~= detail then
    run.status, run.detail = status, detail
    render()
  end
end

--- Moves the indicator to the new last line of buffer b after a write.
function M.follow(b)
  if run then
    if b ~= buf and buf and api.nvim_buf_is_valid(buf) then
      api.nvim_buf_clear_namespace(buf, ns, 0, -1)
    end
    buf = b
    place()
  end
end

--- Stops showing progress.
function M.stop()
  if timer then
    timer:stop()
  end
  if not run then
    return
  end
  run = nil
  render()
end

--- The indicator's text, '' when no answer runs.
function M.text()
  return text
end

--- The namespace of the indicator's extmark, for tests.
M.namespace = ns

return M
