-- Commands of the Tether plugin; the work is in lua/tether/init.lua, loaded
-- on first use.
if vim.g.loaded_tether then
  return
end
vim.g.loaded_tether = true

vim.api.nvim_create_user_command('TetherAsk', function(opts)
  local prompt = opts.args
  if opts.range > 0 then
    -- The selected lines follow the question, each on its own line.
    local lines = vim.api.nvim_buf_get_lines(0, opts.line1 - 1, opts.line2, false)
    if prompt ~= '' then
      table.insert(lines, 1, prompt)
    end
    prompt = table.concat(lines, '\n')
  end
  require('tether').ask(prompt)
end, { nargs = '*', range = true, desc = 'Ask Tether; the answer streams into the tether:// buffer' })

vim.api.nvim_create_user_command('TetherCancel', function()
  require('tether').cancel()
end, { nargs = 0, desc = 'Stop the answer Tether is giving' })

vim.api.nvim_create_user_command('TetherStop', function()
  require('tether').stop()
end, { nargs = 0, desc = 'Stop the Tether process' })

vim.api.nvim_create_autocmd('VimLeavePre', {
  group = vim.api.nvim_create_augroup('tether', { clear = true }),
  callback = function()
    -- Only if the plugin was used: do not load it just to find nothing to stop.
    local tether = package.loaded['tether']
    if tether then
      tether.stop()
    end
  end,
})
