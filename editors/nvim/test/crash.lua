-- Tether dying mid-answer ends the answer with a line saying so, and the
-- next question starts a new Tether; a command that cannot start says how to
-- set it; a Tether that refuses to start says why.
local H = dofile(os.getenv('TETHER_NVIM_ROOT') .. '/test/helper.lua')

H.run(function()
  local t = H.tether

  local got
  t.ask('/tokens 2\n/sleep 60000', function(err)
    got = err
  end)
  H.wait('the tokens before the sleep', function()
    local lines = H.lines()
    return lines[#lines] == 'tok1 tok2'
  end)
  local pid = t.process().pid
  H.eq(0, (vim.uv or vim.loop).kill(pid, 'sigkill'), 'kill tether')
  H.wait('the answer to end', function()
    return not t.busy()
  end)
  H.eq('tether exited', got and got.message, 'error of the interrupted question')
  local lines = H.lines()
  H.eq({ 'tok1 tok2', '[tether exited: code 0, signal 9]' }, vim.list_slice(lines, #lines - 1, #lines),
    'buffer after tether died')
  H.eq('stopped', t.status(), 'status after tether died')

  -- The next question starts a new Tether (and so a new session).
  local _, result = H.ask('back again')
  H.eq('back again', result.text, 'answer from the new tether')
  local pid2 = t.process().pid
  H.eq(true, pid2 ~= nil and pid2 ~= pid, 'a new tether process')
  H.eq(true, t.stop(), 'stop')

  -- A command that cannot start: the user is told how to set it, the buffer
  -- is left alone.
  local before = H.lines()
  t.setup({ cmd = { '/nonexistent/tether' } })
  local err = H.ask('anyone there?')
  H.eq('tether not started', err and err.message, 'error when tether cannot start')
  H.eq(before, H.lines(), 'buffer after a failed start')
  local told = false
  for _, note in ipairs(H.notes) do
    told = told or note:find('Tether: could not start /nonexistent/tether', 1, true) ~= nil
  end
  H.eq(true, told, 'the user was told: ' .. vim.inspect(H.notes))

  -- A command Tether refuses (a flag it does not know): it exits at once,
  -- and the user is told its first words, which name the flag.
  H.notes = {}
  t.setup({ cmd = { H.cmd[1], '--no-such-flag' } })
  err = H.ask('flags?')
  H.eq('tether exited', err and err.message, 'error when tether refuses its flags')
  local last = H.lines()[#H.lines()]
  H.eq(true, last:match('^%[tether exited: code [1-9]%d*, signal 0%]$') ~= nil, 'last line: ' .. last)
  H.eq(1, #H.notes, 'messages shown: ' .. vim.inspect(H.notes))
  H.eq(true, H.notes[1]:find('^Tether: exited with code [1-9]%d*: .*no%-such%-flag') ~= nil,
    'the message names the flag: ' .. H.notes[1])
  H.eq(true, #t.process().log > 0, 'tether\'s stderr is kept')
end)
