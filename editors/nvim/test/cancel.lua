-- :TetherCancel stops a long answer after its first tokens have streamed in;
-- a permission prompt left open by a cancel answers nothing.
local H = dofile(os.getenv('TETHER_NVIM_ROOT') .. '/test/helper.lua')

H.run(function()
  local t = H.tether

  -- The answer streams three tokens, then would sleep for a minute.
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { '/sleep 60000', 'never shown' })
  vim.cmd('1,2TetherAsk /tokens 3')
  H.wait('the tokens before the sleep', function()
    local lines = H.lines()
    return lines[#lines] == 'tok1 tok2 tok3'
  end)
  H.eq('busy', t.status(), 'status while sleeping')

  local start = H.ms()
  vim.cmd('TetherCancel')
  H.wait('the cancelled answer', function()
    return not t.busy()
  end)
  local took = H.ms() - start
  H.metric('cancel_ms', string.format('%.0f', took))
  if took > 5000 then
    error('cancel took ' .. took .. ' ms')
  end
  H.eq({
    '> /tokens 3',
    '> /sleep 60000',
    '> never shown',
    '',
    'tok1 tok2 tok3',
    '[cancelled · 6 in, 3 out tokens · T]',
  }, H.lines(), 'buffer after cancel')
  H.eq('cancelled', t.last_result().stopReason, 'stopReason')

  -- Cancel while a permission prompt is open: the request is withdrawn, and
  -- the late answer is not sent.
  local pending
  vim.ui.select = function(_, _, on_choice)
    pending = on_choice
  end
  local done = false
  t.ask('/tool Bash {"command":"rm -rf build"}', function()
    done = true
  end)
  H.wait('the permission prompt', function()
    return pending ~= nil
  end)
  H.wait('status waiting_permission', function()
    return t.status() == 'waiting_permission'
  end)
  vim.cmd('TetherCancel')
  H.wait('the cancelled answer', function()
    return done
  end)
  pending('Allow', 1) -- too late: nothing is sent, nothing fails
  local lines = H.lines()
  H.eq('[cancelled · 5 in, 0 out tokens · T]', lines[#lines], 'last line after cancelling a permission prompt')

  -- The session still answers after both cancels.
  local _, result = H.ask('after cancel')
  H.eq('after cancel', result.text, 'answer after cancel')

  -- Tether read everything sent before that question before answering it:
  -- two cancels of this session, and no late permission answer.
  local sid = { sessionId = 'nvim-' .. vim.fn.getpid() }
  H.eq({ sid, sid }, H.sent('session/cancel'), 'session/cancel requests')
  H.eq({}, H.sent('permission/respond'), 'permission answers sent')
  H.eq({}, H.notes, 'messages shown to the user')
end)
