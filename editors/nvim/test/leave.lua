-- Quitting Neovim in the middle of a long answer stops Tether: the plugin's
-- VimLeavePre autocommand shuts it down. nvim_e2e_test.go checks that no
-- Tether process is left once Neovim has exited.
local H = dofile(os.getenv('TETHER_NVIM_ROOT') .. '/test/helper.lua')

H.run(function()
  local t = H.tether
  t.ask('/tokens 2\n/sleep 60000')
  H.wait('the tokens before the sleep', function()
    local lines = H.lines()
    return lines[#lines] == 'tok1 tok2'
  end)
  H.log('PID', tostring(t.process().pid))
  -- H.run quits with :qa! now, with the answer still running.
end)
