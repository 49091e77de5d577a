-- Starts Tether with Neovim's own JSON-RPC client, vim.lsp.rpc.start, and
-- hides the two shapes that function has had behind one small object:
--
--   Neovim 0.7 to 0.9: start(cmd, cmd_args, dispatchers, extra_spawn_params)
--     0.7 returns {pid, handle, request, notify}; 0.8 and 0.9 return
--     {request, notify, is_closing, terminate}.
--   Neovim 0.10 and later: start(cmd_list, dispatchers, extra_spawn_params),
--     returning {request, notify, is_closing, terminate}
--     (runtime/lua/vim/lsp/rpc.lua upstream).
--
-- The 0.7 path is the one tested (Debian bookworm's 0.7.2); the newer path is
-- written against the upstream API as documented and is not exercised by the
-- tests here.
local M = {}

-- legacy_signature tells whether vim.lsp.rpc.start takes (cmd, cmd_args, ...).
-- LuaJIT's debug.getinfo reports the number of declared parameters; the
-- version check is the fallback.
local function legacy_signature(start)
  local ok, info = pcall(debug.getinfo, start, 'u')
  if ok and info and info.nparams and info.nparams > 0 then
    return info.nparams >= 4
  end
  return vim.fn.has('nvim-0.10') == 0
end

--- Starts cmd (a list: program and arguments).
--- dispatchers: notification(method, params), server_request(method, params),
--- on_exit(code, signal) as vim.lsp.rpc.start takes them.
--- Returns a handle {request, notify, kill, is_closing, pid} or nil and an
--- error message.
function M.start(cmd, dispatchers, cwd)
  local lsp_rpc = require('vim.lsp.rpc')
  local extra = cwd and { cwd = cwd } or nil
  local ok, client
  if legacy_signature(lsp_rpc.start) then
    local args = {}
    for i = 2, #cmd do
      args[#args + 1] = cmd[i]
    end
    ok, client = pcall(lsp_rpc.start, cmd[1], args, dispatchers, extra)
  else
    ok, client = pcall(lsp_rpc.start, cmd, dispatchers, extra)
  end
  if not ok then
    return nil, tostring(client)
  end
  if not client then
    -- 0.7 reports a failed spawn with vim.notify and returns nothing.
    return nil, 'could not start ' .. table.concat(cmd, ' ')
  end

  local h = { request = client.request, notify = client.notify, pid = client.pid }
  function h.is_closing()
    if client.is_closing then
      return client.is_closing()
    end
    return client.handle == nil or client.handle:is_closing()
  end
  -- kill ends the process at once (SIGTERM); Tether treats it as `exit`.
  function h.kill()
    if client.terminate then
      client.terminate()
    elseif client.handle and not client.handle:is_closing() then
      client.handle:kill(15)
    end
  end
  return h
end

return M
