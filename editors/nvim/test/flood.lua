-- A 100,000-token answer on one line streams without freezing Neovim and
-- lands whole; :TetherCancel in the middle of such a flood stops the answer
-- growing at once.
local H = dofile(os.getenv('TETHER_NVIM_ROOT') .. '/test/helper.lua')

local uv = vim.uv or vim.loop

-- tokens returns what the mock streams for /tokens n: "tok1 tok2 ... tokn".
local function tokens(n)
  local t = {}
  for i = 1, n do
    t[i] = 'tok' .. i
  end
  return table.concat(t, ' ')
end

-- watch_main_loop measures, until the returned function is called, how
-- long work queued on Neovim's main loop (as a key press is) waits: every
-- 10 ms it queues a callback and notes the delay. It returns the largest.
local function watch_main_loop()
  local worst = 0
  local timer = uv.new_timer()
  timer:start(10, 10, function()
    local queued = uv.hrtime()
    vim.schedule(function()
      worst = math.max(worst, (uv.hrtime() - queued) / 1e6)
    end)
  end)
  return function()
    timer:stop()
    timer:close()
    return worst
  end
end

-- writes counts the changes to the answer buffer until the returned
-- function is called, which returns the count.
local function count_writes()
  local n, attached = 0, true
  vim.api.nvim_buf_attach(H.tether.buffer(), false, {
    on_lines = function()
      n = n + 1
      return not attached -- true detaches
    end,
  })
  return function()
    attached = false
    return n
  end
end

H.run(function()
  local t = H.tether
  local n = 100000

  -- The whole answer, exactly, in one line.
  local stop_watch, writes = watch_main_loop(), count_writes()
  local start = H.ms()
  local err, result = H.ask('/tokens ' .. n)
  local took = H.ms() - start
  local worst, nwrites = stop_watch(), writes()
  H.eq(nil, err, 'error')
  H.eq({ '> /tokens ' .. n, '', tokens(n), '[end_turn · 2 in, ' .. n .. ' out tokens · T]' }, H.lines(),
    'buffer after ' .. n .. ' tokens')
  H.metric('tokens_100k_ms', string.format('%.0f', took))
  H.metric('tokens_100k_buffer_writes', nwrites)
  H.metric('tokens_100k_worst_main_loop_delay_ms', string.format('%.0f', worst))
  H.eq(n, result.usage.outputTokens, 'tokens Tether sent')

  -- Cancel as soon as the first tokens show. The mock sleeps between two
  -- halves, so however fast it streams the second half is never sent.
  local buf = t.buffer()
  local first = vim.api.nvim_buf_line_count(buf)
  local done
  t.ask(string.format('/tokens %d\n/sleep 60000\n/tokens %d', n / 2, n / 2), function(e, r)
    done = { err = e, result = r }
  end)
  local answer_row = first + 6 -- after a blank line, three prompt lines, a blank line
  H.wait('the first tokens', function()
    return vim.api.nvim_buf_line_count(buf) >= answer_row
  end)
  start = H.ms()
  vim.cmd('TetherCancel')
  local at_cancel = H.lines()
  H.wait('the cancelled answer', function()
    return done ~= nil
  end)
  H.metric('cancel_in_flood_ms', string.format('%.0f', H.ms() - start))
  H.eq(nil, done.err, 'error of the cancelled answer')
  H.eq('cancelled', done.result.stopReason, 'stopReason')

  -- Nothing arrived in the buffer after the cancel but the closing line.
  local sent = done.result.usage.outputTokens
  local lines = H.lines()
  H.eq(vim.list_extend(vim.deepcopy(at_cancel), { '[cancelled · 6 in, ' .. sent .. ' out tokens · T]' }), lines,
    'buffer after the cancel')
  -- The answer line is the first tokens, in order, whole: fewer than asked
  -- for and no more than Tether sent.
  local shown = select(2, lines[answer_row]:gsub('tok', ''))
  H.eq(tokens(shown), lines[answer_row], 'the tokens shown')
  H.metric('flood_tokens_shown', shown)
  H.metric('flood_tokens_sent', sent)
  if not (shown >= 1 and shown <= sent and sent < n) then
    error(string.format('shown %d tokens, Tether sent %d of %d', shown, sent, n))
  end

  -- The session answers as before.
  local _, again = H.ask('after the flood')
  H.eq('after the flood', again.text, 'answer after the flood')
end)
