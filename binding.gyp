# binding.gyp is only the entry point that node-gyp (and so node-gyp-build's install fallback)
# calls. It holds no compiler flags: its single action runs scripts/build.mjs, which
# drives cmake-js over CMakeLists.txt and leaves build/Release/groundinggpt.node.
{
  "targets": [
    {
      "target_name": "groundinggpt",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_js_build",
          "inputs": [],
          "outputs": ["<(module_root_dir)/build/Release/groundinggpt.node"],
          "action": ["node", "<(module_root_dir)/scripts/build.mjs"]
        }
      ]
    }
  ]
}
