-- Permission requests are put to the user with vim.ui.select (stubbed here):
-- Allow, Deny and Always allow (naming the rule it adds), and the tool's
-- summary lands in the buffer.
local H = dofile(os.getenv('TETHER_NVIM_ROOT') .. '/test/helper.lua')

-- The stub answers with the next scripted choice and records what it was
-- asked. It answers later, from the event loop, as a real picker would.
local asked, answers = {}, {}
vim.ui.select = function(items, opts, on_choice)
  table.insert(asked, { items = items, prompt = opts.prompt })
  local choice = table.remove(answers, 1)
  vim.schedule(function()
    on_choice(choice, choice and vim.fn.index(items, choice) + 1 or nil)
  end)
end

local ls = '/tool Bash {"command":"ls"}'

H.run(function()
  local t = H.tether

  -- Allow: the tool runs.
  answers = { 'Allow' }
  local err, result = H.ask('Let me look.\n' .. ls .. '\nDone.')
  H.eq(nil, err, 'error')
  H.eq(1, #asked, 'permission prompts')
  H.eq({ 'Allow', 'Always allow Bash(ls:*)', 'Deny' }, asked[1].items, 'choices offered')
  H.eq('Tether: allow Bash {"command":"ls"}?', asked[1].prompt, 'prompt')
  H.eq({
    '> Let me look.',
    '> ' .. ls,
    '> Done.',
    '',
    'Let me look.',
    '[tool] Bash ran (mock result)',
    'Done.',
    '[end_turn · 7 in, 4 out tokens · T]',
  }, H.lines(), 'buffer after allow')
  H.eq('Let me look.\nDone.', result.text, 'text after allow')

  -- Deny: the agent is told, the summary says so.
  answers = { 'Deny' }
  err = H.ask(ls .. '\nOK then.')
  H.eq(nil, err, 'error')
  H.eq(2, #asked, 'permission prompts')
  local lines = H.lines()
  H.eq({
    '',
    '> ' .. ls,
    '> OK then.',
    '',
    '[tool error] Bash denied: denied in Neovim',
    'OK then.',
    '[end_turn · 5 in, 2 out tokens · T]',
  }, vim.list_slice(lines, #lines - 6, #lines), 'buffer after deny')

  -- Dismissing the picker (no choice) denies too.
  answers = { nil }
  H.ask(ls)
  H.eq(3, #asked, 'permission prompts')
  lines = H.lines()
  H.eq({ '[tool error] Bash denied: denied in Neovim', '[end_turn · 3 in, 0 out tokens · T]' },
    vim.list_slice(lines, #lines - 1, #lines), 'last lines after dismissing')

  -- Always allow: this time and, without asking, every later time in the
  -- session; what the rule does not cover is still asked.
  answers = { 'Always allow Bash(ls:*)' }
  H.ask(ls)
  H.eq(4, #asked, 'permission prompts')
  H.ask(ls .. '\n' .. ls)
  H.eq(4, #asked, 'permission prompts after always allow')
  lines = H.lines()
  H.eq({
    '',
    '> ' .. ls,
    '> ' .. ls,
    '',
    '[tool] Bash ran (mock result)',
    '[tool] Bash ran (mock result)',
    '[end_turn · 6 in, 0 out tokens · T]',
  }, vim.list_slice(lines, #lines - 6, #lines), 'buffer after always allow')
  answers = { 'Deny' }
  H.ask('/tool Bash {"command":"rm -rf x"}')
  H.eq(5, #asked, 'rm is asked after always allowing ls')
  H.eq({ 'Allow', 'Always allow Bash(rm:*)', 'Deny' }, asked[5].items, 'choices for rm')

  -- What went over the wire, in order: the request ids are Tether's UUIDs.
  local sent = H.sent('permission/respond')
  H.eq(5, #sent, 'permission/respond requests')
  local function strip(p)
    H.eq(true, type(p.requestId) == 'string' and #p.requestId == 36, 'requestId is a UUID')
    p.requestId = nil
    return p
  end
  H.eq({ decision = 'allow' }, strip(sent[1]), 'answer to Allow')
  H.eq({ decision = 'deny', reason = 'denied in Neovim' }, strip(sent[2]), 'answer to Deny')
  H.eq({ decision = 'deny', reason = 'denied in Neovim' }, strip(sent[3]), 'answer to a dismissed picker')
  H.eq({ decision = 'allow', remember = true }, strip(sent[4]), 'answer to Always allow')
  H.eq({ decision = 'deny', reason = 'denied in Neovim' }, strip(sent[5]), 'answer to Deny for rm')
  H.metric('permission_prompts', #asked)
end)
