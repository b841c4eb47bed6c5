// SynthCV: UnrealCV commands for synth (see ue_plugin/README.md).
#pragma once

#include "CoreMinimal.h"
#include "Server/ExecStatus.h"

class FCommandDispatcher;
class AActor;
class USkeletalMeshComponent;
class UWorld;

/**
 * The /synth commands. Every template here must equal one in synth/render/unreal/protocol.py (SYNTH_COMMANDS); the
 * Python tests compare the two lists. Units: Unreal centimetres and degrees, animation time in seconds.
 *
 * All handlers run on the game thread (UnrealCV's dispatcher is called from FUnrealcvServer::Tick), also while the
 * game is paused, which is how synth captures: pause, then per frame pose the character, move the cameras, capture.
 */
class FSynthCommands : public TSharedFromThis<FSynthCommands>
{
public:
	/** Bind every command; call once, after UnrealCV registered its own. */
	void Register(FCommandDispatcher& Dispatcher);

	FExecStatus GetVersion(const TArray<FString>& Args);
	FExecStatus OpenMap(const TArray<FString>& Args);
	FExecStatus GetMap(const TArray<FString>& Args);
	FExecStatus SetLighting(const TArray<FString>& Args);
	FExecStatus SpawnCharacter(const TArray<FString>& Args);
	FExecStatus SetAnimation(const TArray<FString>& Args);
	FExecStatus SetAnimationTime(const TArray<FString>& Args);
	FExecStatus GetBones(const TArray<FString>& Args);
	FExecStatus DestroyCharacter(const TArray<FString>& Args);
	FExecStatus SetLens(const TArray<FString>& Args);

private:
	/** The character actor spawned under Name (ours first, then any actor of the world with that name). */
	AActor* FindCharacter(UWorld* World, const FString& Name) const;
	/** Its skeletal mesh component, or an error message in OutError. */
	USkeletalMeshComponent* FindMesh(const FString& Name, FString& OutError) const;

	TMap<FString, TWeakObjectPtr<AActor>> Characters;
	/** Package path asked for by OpenMap until the new world has begun play. */
	FString PendingMap;
};
