-- While an answer runs, the end of the answer buffer shows what it is doing
-- (virtual text, never buffer text) with a spinner and the elapsed time;
-- require('tether').progress() gives the same text to statuslines. At the
-- end the indicator goes and a closing line sums the answer up.
local H = dofile(os.getenv('TETHER_NVIM_ROOT') .. '/test/helper.lua')

-- The picker is left open until the test answers it.
local pending
vim.ui.select = function(_, _, on_choice)
  pending = on_choice
end

-- Every text the indicator showed, as the User TetherProgress autocommand
-- reports it.
local shown = {}
vim.api.nvim_create_autocmd('User', {
  pattern = 'TetherProgress',
  callback = function()
    table.insert(shown, H.tether.progress())
  end,
})

-- what strips the spinner and the elapsed time: "⠋ thinking… · 3s" is
-- "thinking…".
local function what(text)
  return text:match('^%S+ (.-) · %d+[ms%d]*s$')
end

-- whats lists what the indicator said, each change once.
local function whats()
  local out = {}
  for _, text in ipairs(shown) do
    local w = text == '' and '' or what(text)
    if w ~= out[#out] then
      out[#out + 1] = w
    end
  end
  return out
end

-- marks returns the indicator's extmarks: {row, text} each.
local function marks()
  local out = {}
  local ns = require('tether.progress').namespace
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(H.tether.buffer(), ns, 0, -1, { details = true })) do
    out[#out + 1] = { m[2], m[4].virt_text[1][1] }
  end
  return out
end

H.run(function()
  local t = H.tether
  H.eq('', t.progress(), 'progress before any question')

  local prompt = 'Let me look.\n/tool Bash {"command":"ls"}\n/sleep 60000'
  local done, result = false, nil
  t.ask(prompt, function(_, r)
    done, result = true, r
  end)

  -- Waiting for permission: the indicator says for which tool, at the end
  -- of the answer's last line, and the buffer holds only the answer.
  H.wait('the permission prompt', function()
    return pending ~= nil and t.status() == 'waiting_permission'
  end)
  local text = t.progress()
  H.eq('waiting for permission: Bash', what(text), 'progress while the picker is open: ' .. text)
  local want = { '> Let me look.', '> /tool Bash {"command":"ls"}', '> /sleep 60000', '', 'Let me look.' }
  H.eq(want, H.lines(), 'buffer while waiting for permission')
  H.eq({ { #want - 1, '  ' .. text } }, marks(), 'the indicator in the buffer')

  -- Every state the answer went through was shown, in order: the backend
  -- starting (with its status detail), the first text, the tool.
  H.eq({ 'sending…', 'starting mock', 'thinking…', 'writing…', 'running Bash', 'waiting for permission: Bash' },
    whats(), 'what the indicator said')

  -- After the tool ran the agent sleeps: the spinner turns and the elapsed
  -- time counts.
  pending('Allow', 1)
  H.wait('the tool result', function()
    return H.lines()[#H.lines()] == '[tool] Bash ran (mock result)'
  end)
  local first = #shown
  H.wait('the spinner to turn', function()
    local frames = {}
    for i = first, #shown do
      frames[shown[i]:match('^%S+') or ''] = true
    end
    return vim.tbl_count(frames) >= 2
  end)
  H.wait('a second to pass', function()
    return (tonumber(t.progress():match(' · (%d+)s$')) or 0) >= 1
  end)
  H.eq('thinking…', what(t.progress()), 'progress while the agent sleeps')
  H.eq({ { #H.lines() - 1, '  ' .. t.progress() } }, marks(), 'the indicator follows the last line')

  -- Cancelled: the indicator says so until the answer has ended, then goes.
  vim.cmd('TetherCancel')
  H.eq('cancelling…', what(t.progress()), 'progress right after :TetherCancel')
  H.wait('the cancelled answer', function()
    return done
  end)
  H.eq('', t.progress(), 'progress after the answer')
  H.eq({}, marks(), 'indicator marks after the answer')
  H.eq('', shown[#shown], 'the last text the autocommand saw')
  H.eq('cancelled', result.stopReason, 'stopReason')
  local lines = H.lines()
  H.eq({ '[tool] Bash ran (mock result)', '[cancelled · 8 in, 3 out tokens · T]' },
    vim.list_slice(lines, #lines - 1, #lines), 'the closing line')

  -- A question to the running session: no "starting" this time.
  shown = {}
  H.ask('/think pondering\nshort')
  H.eq({ 'sending…', 'thinking…', 'writing…', '' }, whats(), 'what the indicator said on a warm session')
  lines = H.lines()
  H.eq({ 'short', '[end_turn · 3 in, 1 out tokens · T]' }, vim.list_slice(lines, #lines - 1, #lines),
    'the closing line of a warm answer')

  -- Progress the backend reports (a Claude retry, a compaction) arrives as
  -- a busy status with a detail: the indicator shows that detail, in the
  -- buffer and to statuslines, while the turn runs. The mock's /progress
  -- sends one.
  shown = {}
  done = false
  local retry = 'API unreachable, retry 3 of 10 in 8 s: connection refused'
  t.ask('/progress ' .. retry .. '\n/sleep 60000', function()
    done = true
  end)
  H.wait('the progress detail', function()
    return what(t.progress()) == retry
  end)
  H.eq({ { #H.lines() - 1, '  ' .. t.progress() } }, marks(), 'the detail in the buffer')
  H.eq({ 'sending…', 'thinking…', retry }, whats(), 'what the indicator said before the detail')
  vim.cmd('TetherCancel')
  H.wait('the cancelled answer', function()
    return done
  end)
  H.eq('', t.progress(), 'progress after the answer with a detail')

  -- progress = false: nothing in the buffer, the text for statuslines still.
  t.setup({ cmd = H.cmd, progress = false })
  pending = nil
  done = false
  t.ask('/tool Bash {"command":"ls"}', function()
    done = true
  end)
  H.wait('the permission prompt', function()
    return pending ~= nil and t.status() == 'waiting_permission'
  end)
  H.eq('waiting for permission: Bash', what(t.progress()), 'progress() with progress = false')
  H.eq({}, marks(), 'indicator marks with progress = false')
  pending('Deny', 3)
  H.wait('the denied answer', function()
    return done
  end)

  -- The details Tether sends that the mock cannot: whatever a busy status
  -- says is shown as it is; a starting or waiting status's detail follows
  -- its label unless it says it already.
  local p = require('tether.progress')
  p.start(t.buffer())
  local function shows(status, detail)
    p.status(status, detail)
    return what(p.text())
  end
  H.eq(retry, shows('busy', retry), 'a retry')
  H.eq('compacting the conversation', shows('busy', 'compacting the conversation'), 'a compaction')
  H.eq('thinking…', shows('busy', ''), 'busy with an empty detail')
  H.eq('starting claude', shows('starting', 'claude'), 'starting with the backend as detail')
  H.eq('starting claude', shows('starting', 'starting claude'), 'starting with a sentence as detail')
  H.eq('waiting for permission: Edit', shows('waiting_permission', 'Edit'), 'waiting with the tool as detail')
  H.eq('Waiting for permission: Bash', shows('waiting_permission', 'Waiting for permission: Bash'),
    'waiting with a sentence as detail')
  p.stop()
  H.eq('', t.progress(), 'progress after stop')
end)
