-- :TetherAsk streams the answer into the answer buffer, line by line, and
-- follow-up questions go to the same session.
local H = dofile(os.getenv('TETHER_NVIM_ROOT') .. '/test/helper.lua')

H.run(function()
  local t = H.tether

  -- One line, three tokens.
  local start = H.ms()
  vim.cmd('TetherAsk hello brave world')
  H.wait('the first answer', function()
    return not t.busy()
  end)
  H.metric('first_answer_ms', string.format('%.0f', H.ms() - start))
  H.eq({ '> hello brave world', '', 'hello brave world', '[end_turn · 3 in, 3 out tokens · T]' }, H.lines(),
    'buffer after the first answer')
  H.eq('end_turn', t.last_result().stopReason, 'stopReason')
  H.eq('hello brave world', t.last_result().text, 'text')
  H.eq('idle', t.status(), 'status')
  local pid = t.process().pid
  H.eq(true, type(pid) == 'number' and pid > 0, 'tether has a pid')

  -- A range adds the selected lines after the question: a multi-line answer
  -- whose later lines arrive as tokens starting with a newline.
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'second line here', '/tokens 3' })
  vim.cmd('1,2TetherAsk first line')
  H.wait('the second answer', function()
    return not t.busy()
  end)
  H.eq({
    '> hello brave world',
    '',
    'hello brave world',
    '[end_turn · 3 in, 3 out tokens · T]',
    '',
    '> first line',
    '> second line here',
    '> /tokens 3',
    '',
    'first line',
    'second line here',
    'tok1 tok2 tok3',
    '[end_turn · 7 in, 8 out tokens · T]',
  }, H.lines(), 'buffer after the second answer')
  H.eq('first line\nsecond line here\ntok1 tok2 tok3', t.last_result().text, 'text of the second answer')
  H.eq(8, t.last_result().usage.outputTokens, 'tokens of the second answer')

  -- Same process, same session: the session has seen both questions.
  H.eq(pid, t.process().pid, 'one tether process for both questions')

  -- A failing turn says so in the buffer; the session stays usable.
  local err = H.ask('/fail the model exploded')
  H.eq(-32012, err and err.code, 'error code of a failed turn')
  local err2, result = H.ask('still here')
  H.eq(nil, err2, 'error after a failed turn')
  H.eq('still here', result.text, 'answer after a failed turn')
  local lines = H.lines()
  H.eq({
    '',
    '> /fail the model exploded',
    '',
    '[error] backend failed: the model exploded',
    '',
    '> still here',
    '',
    'still here',
    '[end_turn · 2 in, 2 out tokens · T]',
  }, vim.list_slice(lines, #lines - 8, #lines), 'buffer after a failed turn')

  -- Neither question showed the answer window more than once.
  H.eq(1, #vim.fn.win_findbuf(t.buffer()), 'windows showing the answer')

  -- stop() ends Tether: shutdown, then exit with code 0.
  start = H.ms()
  H.eq(true, t.stop(), 'stop() returns once tether has exited')
  H.metric('stop_ms', string.format('%.0f', H.ms() - start))
  H.eq(0, t.process().exit_code, 'exit code after shutdown and exit')
  H.eq('stopped', t.status(), 'status after stop')
end)
