-- Shared by the end-to-end scripts in this directory, which nvim_e2e_test.go
-- runs as
--   nvim --headless -u NONE -i NONE -c 'luafile editors/nvim/test/NAME.lua'
-- with TETHER_BIN (the built binary) and TETHER_NVIM_ROOT (editors/nvim) set.
-- A script calls helper.run(fn): fn's failure, or any assertion's, ends
-- Neovim with exit code 1 and the reason on stderr.
local H = {}

local root = assert(os.getenv('TETHER_NVIM_ROOT'), 'TETHER_NVIM_ROOT is not set')
local bin = assert(os.getenv('TETHER_BIN'), 'TETHER_BIN is not set')

-- Bounds every wait, so that a bug fails with what was awaited instead of
-- hanging. It never paces the test: a wait ends when its condition holds.
H.guard = 15000

-- Load the plugin as Neovim would from a package on the runtimepath.
vim.opt.runtimepath:prepend(root)
vim.cmd('runtime plugin/tether.lua')

-- TETHER_TRACE_LOG, if set, is where Tether logs every message it reads
-- and writes, for assertions on what the plugin sent.
local trace = os.getenv('TETHER_TRACE_LOG')
local cmd = { bin, '--backend', 'mock' }
if trace then
  vim.list_extend(cmd, { '--trace', '--log-level', 'debug', '--log-file', trace })
end

-- The command that starts Tether, for scripts that call setup() again.
H.cmd = cmd
H.tether = require('tether')
H.tether.setup({ cmd = cmd })

-- sent returns the params of every request of method the plugin sent, in
-- order, as Tether's trace log shows them.
function H.sent(method)
  assert(trace, 'TETHER_TRACE_LOG is not set')
  local f = assert(io.open(trace))
  local all = {}
  for line in f:lines() do
    -- Tether's --trace logs each message it reads as
    -- msg="<- message" body="<the message, Go-quoted>".
    local body = line:match('msg="<%- message" body="(.*)"$')
    if body then
      body = body:gsub('\\(.)', '%1')
      local m = vim.json.decode(body)
      if m.method == method and m.id ~= nil then
        table.insert(all, m.params)
      end
    end
  end
  f:close()
  return all
end

-- Messages the plugin shows, kept for the assertions instead of printed.
H.notes = {}
vim.notify = function(msg, level)
  table.insert(H.notes, msg)
  io.stderr:write('notify: ', tostring(msg), '\n')
end

local uv = vim.uv or vim.loop
local t0 = uv.hrtime()

function H.ms()
  return (uv.hrtime() - t0) / 1e6
end

function H.log(...)
  io.stdout:write(table.concat({ ... }, ' '), '\n')
end

-- metric prints a measurement the Go test logs.
function H.metric(name, value)
  H.log('METRIC', name, tostring(value))
end

function H.eq(want, got, what)
  if not vim.deep_equal(want, got) then
    error(string.format('%s:\nwant %s\n got %s', what or 'values differ', vim.inspect(want), vim.inspect(got)), 2)
  end
end

function H.wait(what, cond, timeout)
  local start = H.ms()
  if not vim.wait(timeout or H.guard, cond, 5) then
    error('timed out waiting for ' .. what, 2)
  end
  return H.ms() - start
end

-- lines returns the answer buffer's lines, with the duration in each
-- closing line ("[end_turn · 3 in, 3 out tokens · 8 ms]") replaced by T:
-- the one part of the buffer that differs from run to run.
function H.lines()
  local buf = H.tether.buffer()
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  for i, line in ipairs(lines) do
    lines[i] = line:gsub('^(%[.* · )[%dm%.]+ ?m?s%]$', '%1T]')
  end
  return lines
end

-- ask sends prompt and waits for its answer; returns err, result.
function H.ask(prompt)
  local done, err, result = false, nil, nil
  H.tether.ask(prompt, function(e, r)
    done, err, result = true, e, r
  end)
  H.wait('the answer to ' .. vim.inspect(prompt), function()
    return done
  end)
  return err, result
end

-- Runs fn, then quits Neovim: exit code 0 if fn returned, 1 if it failed.
-- The plugin's VimLeavePre autocommand stops Tether on the way out.
function H.run(fn)
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then
    io.stderr:write('FAIL: ', tostring(err), '\n')
    io.stderr:write('buffer:\n', table.concat(H.lines(), '\n'), '\n')
    vim.cmd('cquit 1')
    return
  end
  H.log('PASS')
  vim.cmd('qa!')
end

return H
