-- The answer buffer: a scratch buffer the questions, answers and closing
-- lines are written to.
--
-- Streamed text is not written token by token: tokens are collected and
-- written at most once per flush interval, by a timer, with one
-- nvim_buf_set_text at the place the last write ended. The buffer is never
-- read back to find its end (an answer can be one line of megabytes), and
-- it keeps no undo history, so a long answer costs each flush only what
-- that flush adds.
local M = {}

local api = vim.api
local uv = vim.uv or vim.loop

local opts = {
  name = 'tether://answer',
  flush_interval = 30, -- ms between writes of streamed text
  on_write = function(_) end, -- called with the buffer after every write
}

local buf -- the buffer, while valid
local fresh = true -- the next streamed text starts a new line
-- Where the buffer ends, as the last write left it; trusted while the
-- buffer's changedtick is the one that write left.
local tail = { row = 0, col = 0, tick = -1 }
local pending, npending = {}, 0 -- streamed text not yet written
local timer, armed = nil, false

--- Sets name (the buffer's name when it is created), flush_interval (ms)
--- and on_write(buf).
function M.configure(o)
  opts = vim.tbl_extend('force', opts, o)
end

--- The buffer, created on first use.
function M.buffer()
  if buf and api.nvim_buf_is_valid(buf) then
    return buf
  end
  buf = api.nvim_create_buf(false, true)
  pcall(api.nvim_buf_set_name, buf, opts.name)
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].undolevels = -1
  vim.bo[buf].modifiable = false
  fresh = true
  tail.tick = -1
  return buf
end

--- Shows the buffer with the Ex command open_cmd (e.g. 'botright split')
--- unless a window shows it already; the current window stays current.
function M.show(open_cmd)
  local b = M.buffer()
  if not open_cmd or vim.fn.bufwinid(b) ~= -1 then
    return
  end
  local win = api.nvim_get_current_win()
  vim.cmd(open_cmd)
  api.nvim_win_set_buf(0, b)
  api.nvim_set_current_win(win)
end

-- end_pos returns where the buffer ends (0-based row, byte column).
local function end_pos(b)
  if tail.tick ~= api.nvim_buf_get_changedtick(b) then
    -- Someone else changed the buffer: read its last line once.
    local row = api.nvim_buf_line_count(b) - 1
    tail.row, tail.col = row, #api.nvim_buf_get_lines(b, row, row + 1, false)[1]
  end
  return tail.row, tail.col
end

-- edit runs fn(buf) with the buffer modifiable. Windows whose cursor was on
-- the last line (or every window, with follow_all) move to the new end, so
-- they follow the answer; a window where the user has moved up stays.
local function edit(fn, follow_all)
  local b = M.buffer()
  local last = api.nvim_buf_line_count(b)
  local follow = {}
  for _, win in ipairs(vim.fn.win_findbuf(b)) do
    if follow_all or api.nvim_win_get_cursor(win)[1] == last then
      follow[#follow + 1] = win
    end
  end
  vim.bo[b].modifiable = true
  local ok, err = pcall(fn, b)
  vim.bo[b].modifiable = false
  tail.tick = api.nvim_buf_get_changedtick(b)
  if not ok then
    tail.tick = -1
    error(err, 0)
  end
  for _, win in ipairs(follow) do
    pcall(api.nvim_win_set_cursor, win, { tail.row + 1, tail.col })
  end
  opts.on_write(b)
end

local function is_empty(b)
  return api.nvim_buf_line_count(b) == 1 and api.nvim_buf_get_lines(b, 0, 1, false)[1] == ''
end

-- write_text appends streamed text at the end of the buffer; its newlines
-- start new lines.
local function write_text(text)
  if fresh then
    -- Text after a line of our own (the prompt, a tool summary) starts a
    -- line of its own, and a line break it starts with is that one.
    local lines = vim.split((text:gsub('^\r?\n', '', 1)), '\n', { plain = true })
    edit(function(b)
      api.nvim_buf_set_lines(b, -1, -1, false, lines)
      tail.row, tail.col = api.nvim_buf_line_count(b) - 1, #lines[#lines]
    end)
    fresh = false
    return
  end
  local lines = vim.split(text, '\n', { plain = true })
  edit(function(b)
    local row, col = end_pos(b)
    api.nvim_buf_set_text(b, row, col, row, col, lines)
    if #lines == 1 then
      tail.col = col + #lines[1]
    else
      tail.row, tail.col = row + #lines - 1, #lines[#lines]
    end
  end)
end

--- Writes the streamed text collected so far, now.
function M.flush()
  armed = false
  if timer then
    timer:stop()
  end
  if npending == 0 then
    return
  end
  local text = table.concat(pending)
  pending, npending = {}, 0
  if text ~= '' then
    write_text(text)
  end
end

local flush_later = vim.schedule_wrap(function()
  if armed then
    M.flush()
  end
end)

--- Adds streamed text; it is written within the flush interval.
function M.text(text)
  npending = npending + 1
  pending[npending] = text
  if armed then
    return
  end
  armed = true
  timer = timer or uv.new_timer()
  timer:start(opts.flush_interval, 0, flush_later)
end

--- Forgets the streamed text not yet written.
function M.discard()
  pending, npending = {}, 0
  armed = false
  if timer then
    timer:stop()
  end
end

--- Adds line as a line of its own, after the text streamed so far; streamed
--- text after it starts on a new line. With follow_all every window showing
--- the buffer moves to its end.
function M.line(line, follow_all)
  M.flush()
  edit(function(b)
    if is_empty(b) then
      api.nvim_buf_set_lines(b, 0, 1, false, { line })
    else
      api.nvim_buf_set_lines(b, -1, -1, false, { line })
    end
    tail.row, tail.col = api.nvim_buf_line_count(b) - 1, #line
  end, follow_all)
  fresh = true
end

--- True if the buffer has nothing in it yet.
function M.empty()
  return is_empty(M.buffer())
end

return M
